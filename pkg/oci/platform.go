package oci

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// Platform is the platform object of an index entry.
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += ":" + p.OSVersion
	}
	return s
}

// ParsePlatform reads "os/arch[/variant]"; it does not check the names
// (Check does).
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q is not os/arch[/variant]", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// HostPlatform is the platform this program runs on, as a daemon here
// would pick an image.
func HostPlatform() Platform {
	p := Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		// Go's default GOARM; the binary's own setting is not the CPU's.
		p.Variant = "v7"
	}
	return p
}

// knownPlatforms are the GOOS/GOARCH pairs of `go tool dist list` (Go 1.24
// through 1.26): OCI reuses Go's names, so a pair outside this list is
// almost always a typo such as "x86_64" or "aarch64".
var knownPlatforms = []string{
	// Linux first: that is what nearly every image is for.
	"linux/amd64", "linux/arm64", "linux/arm", "linux/386", "linux/loong64",
	"linux/mips", "linux/mips64", "linux/mips64le", "linux/mipsle",
	"linux/ppc64", "linux/ppc64le", "linux/riscv64", "linux/s390x",
	"windows/amd64", "windows/arm64", "windows/386", "windows/arm",
	"aix/ppc64",
	"android/386", "android/amd64", "android/arm", "android/arm64",
	"darwin/amd64", "darwin/arm64",
	"dragonfly/amd64",
	"freebsd/386", "freebsd/amd64", "freebsd/arm", "freebsd/arm64", "freebsd/riscv64",
	"illumos/amd64",
	"ios/amd64", "ios/arm64",
	"js/wasm",
	"netbsd/386", "netbsd/amd64", "netbsd/arm", "netbsd/arm64",
	"openbsd/386", "openbsd/amd64", "openbsd/arm", "openbsd/arm64", "openbsd/ppc64", "openbsd/riscv64",
	"plan9/386", "plan9/amd64", "plan9/arm",
	"solaris/amd64",
	"wasip1/wasm",
}

// Check rejects an os/arch pair that is not a known GOOS/GOARCH pair and a
// variant with characters no registry uses.
func (p Platform) Check() error {
	pair := p.OS + "/" + p.Architecture
	if !slices.Contains(knownPlatforms, pair) {
		return fmt.Errorf("unknown platform %q: use one of %s", pair, strings.Join(knownPlatforms, ", "))
	}
	for _, r := range p.Variant {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.') {
			return fmt.Errorf("platform %s: variant %q may contain only a-z, 0-9 and '.'", pair, p.Variant)
		}
	}
	return nil
}

// NormVariant is p's variant with the architecture's baseline spelled as
// runtimes match it: "" for arm64/v8 and amd64/v1, "v7" for arm.
func (p Platform) NormVariant() string {
	switch {
	case p.Architecture == "arm64" && p.Variant == "v8",
		p.Architecture == "amd64" && p.Variant == "v1":
		return ""
	case p.Architecture == "arm" && p.Variant == "":
		return "v7"
	}
	return p.Variant
}

// Matches says whether a runtime asked for p would run an image for q, as
// containerd matches: the same OS and architecture, and the same variant
// once an unset one is read as the architecture's baseline. os.version and
// os.features do not take part.
func (p Platform) Matches(q Platform) bool {
	return p.OS == q.OS && p.Architecture == q.Architecture && p.NormVariant() == q.NormVariant()
}

// Same says whether p and q are one platform to a runtime: they match, and
// os.version and os.features agree. An index must not list two images for
// the same platform.
func (p Platform) Same(q Platform) bool {
	return p.Matches(q) && p.OSVersion == q.OSVersion && slices.Equal(p.OSFeatures, q.OSFeatures)
}

// Takes says whether an image built for p can start from a base image for
// q: they match, or either leaves the variant unset (the build then takes
// the base's).
func (p Platform) Takes(q Platform) bool {
	return p.OS == q.OS && p.Architecture == q.Architecture &&
		(p.Variant == "" || q.Variant == "" || p.NormVariant() == q.NormVariant())
}
