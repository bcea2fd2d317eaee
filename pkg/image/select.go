package image

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// SelectManifest picks the manifest a daemon on platform ("os/arch[/variant]",
// "" for this host) would run. A single-manifest image is returned as is
// unless a platform was asked for and it is another one.
func SelectManifest(img *Image, platform string) (Manifest, error) {
	if len(img.Manifests) == 0 {
		return Manifest{}, fmt.Errorf("image has no manifest")
	}
	if platform == "" && !img.IsIndex() {
		return img.Manifests[0], nil
	}
	want, err := parsePlatform(platform)
	if err != nil {
		return Manifest{}, err
	}
	for _, m := range img.Manifests {
		if want.Matches(platformOf(m)) {
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
	return Manifest{}, fmt.Errorf("the image has no manifest for %s; it has %s (choose one with --platform)", what, strings.Join(have, ", "))
}

// SelectManifests picks the manifests to load: platform is "" (this host's,
// as `docker pull` picks), "all", or a comma-separated list such as
// "linux/amd64,linux/arm64". Each is picked once, in the image's order.
func SelectManifests(img *Image, platform string) ([]Manifest, error) {
	if platform == "all" {
		return img.Manifests, nil
	}
	picked := map[string]bool{}
	for _, p := range strings.Split(platform, ",") {
		m, err := SelectManifest(img, strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		picked[m.Digest] = true
	}
	var out []Manifest
	for _, m := range img.Manifests {
		if picked[m.Digest] {
			out = append(out, m)
			picked[m.Digest] = false
		}
	}
	return out, nil
}

// platformOf falls back to the config for a manifest whose platform the
// caller did not fill in (a single manifest has no index entry to take it
// from).
func platformOf(m Manifest) oci.Platform {
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
		return oci.HostPlatform(), nil
	}
	return oci.ParsePlatform(s)
}
