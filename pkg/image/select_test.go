package image_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/oci"
)

func TestSelectManifest(t *testing.T) {
	amd := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "amd64"))
	arm64 := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, imagetest.GzipLayer(t, "a", "arm64"))
	arm := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, imagetest.GzipLayer(t, "a", "arm"))
	img := imagetest.Index(t, amd, arm64, arm)
	for platform, want := range map[string]string{
		"linux/amd64":    amd.Digest,
		"linux/amd64/v1": amd.Digest,
		"linux/arm64":    arm64.Digest,
		"linux/arm64/v8": arm64.Digest,
		"linux/arm":      arm.Digest,
		"linux/arm/v7":   arm.Digest,
	} {
		m, err := image.SelectManifest(img, platform)
		if err != nil || m.Digest != want {
			t.Errorf("SelectManifest(%q) = %s, %v; want %s", platform, m.Digest, err, want)
		}
	}
	if runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") {
		m, err := image.SelectManifest(img, "")
		if err != nil || m.Platform.Architecture != runtime.GOARCH {
			t.Errorf("host platform: got %v, %v", m.Platform, err)
		}
	}
	_, err := image.SelectManifest(img, "windows/amd64")
	if err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8, linux/arm/v7") {
		t.Errorf("missing platform: error %v should list the available ones", err)
	}
	for _, bad := range []string{"linux", "linux/", "a/b/c/d"} {
		if _, err := image.SelectManifest(img, bad); err == nil {
			t.Errorf("SelectManifest(%q) succeeded", bad)
		}
	}
}

func TestSelectManifestSingle(t *testing.T) {
	arm := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "arm64"}, imagetest.GzipLayer(t, "a", "x"))
	arm.Platform = oci.Platform{} // read from the config instead
	img := imagetest.Index(t, arm)
	img.Index, img.IndexDigest = nil, ""
	if m, err := image.SelectManifest(img, ""); err != nil || m.Digest != arm.Digest {
		t.Errorf("a single manifest loads on any host: %v", err)
	}
	if _, err := image.SelectManifest(img, "linux/arm64/v8"); err != nil {
		t.Errorf("platform from config: %v", err)
	}
	if _, err := image.SelectManifest(img, "linux/amd64"); err == nil || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("wrong platform: %v", err)
	}
}

func TestSelectManifests(t *testing.T) {
	amd := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "amd64"))
	arm64 := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, imagetest.GzipLayer(t, "a", "arm64"))
	img := imagetest.Index(t, amd, arm64)
	digests := func(platform string) string {
		ms, err := image.SelectManifests(img, platform)
		if err != nil {
			return err.Error()
		}
		var ds []string
		for _, m := range ms {
			ds = append(ds, m.Digest)
		}
		return strings.Join(ds, ",")
	}
	for platform, want := range map[string]string{
		"all":                       amd.Digest + "," + arm64.Digest,
		"linux/arm64,linux/amd64":   amd.Digest + "," + arm64.Digest,
		"linux/arm64, linux/arm64":  arm64.Digest,
		"linux/amd64":               amd.Digest,
		"linux/amd64,windows/amd64": "no manifest for platform windows/amd64",
	} {
		if got := digests(platform); !strings.Contains(got, want) {
			t.Errorf("SelectManifests(%q) = %s, want %s", platform, got, want)
		}
	}
}
