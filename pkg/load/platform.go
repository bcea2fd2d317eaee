package load

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
)

// SelectManifest picks the manifest a daemon on platform ("os/arch[/variant]",
// "" for this host) would run. A single-manifest image is returned as is
// unless a platform was asked for and it is another one.
func SelectManifest(img *image.Image, platform string) (image.Manifest, error) {
	if len(img.Manifests) == 0 {
		return image.Manifest{}, fmt.Errorf("image has no manifest")
	}
	if platform == "" && !img.IsIndex() {
		return img.Manifests[0], nil
	}
	want, err := parsePlatform(platform)
	if err != nil {
		return image.Manifest{}, err
	}
	for _, m := range img.Manifests {
		if platformMatches(want, platformOf(m)) {
			return m, nil
		}
	}
	var have []string
	for _, m := range img.Manifests {
		have = append(have, platformOf(m).String())
	}
	what := "platform " + want.String()
	if platform == "" {
		what = "this host's platform " + want.String()
	}
	return image.Manifest{}, fmt.Errorf("the image has no manifest for %s; it has %s (choose one with --platform)", what, strings.Join(have, ", "))
}

// platformOf falls back to the config for a manifest whose platform the
// caller did not fill in (a single manifest has no index entry to take it
// from).
func platformOf(m image.Manifest) oci.Platform {
	if m.Platform.OS != "" {
		return m.Platform
	}
	var c oci.ImageConfig
	if json.Unmarshal(m.Config, &c) != nil {
		return m.Platform
	}
	return oci.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant, OSVersion: c.OSVersion}
}

// parsePlatform reads "os/arch[/variant]"; "" is the host.
func parsePlatform(s string) (oci.Platform, error) {
	if s == "" {
		return hostPlatform(), nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return oci.Platform{}, fmt.Errorf("platform %q is not os/arch[/variant]", s)
	}
	p := oci.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func hostPlatform() oci.Platform {
	p := oci.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		// Go's default GOARM; the binary's own setting is not the CPU's.
		p.Variant = "v7"
	}
	return p
}

// platformMatches compares as containerd does for the fields a load cares
// about: an unset variant is the architecture's baseline, and an
// os.version on the image does not exclude it.
func platformMatches(want, have oci.Platform) bool {
	return want.OS == have.OS && want.Architecture == have.Architecture &&
		oci.NormVariant(want) == oci.NormVariant(have)
}
