package load

import (
	"runtime"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

func TestSelectManifest(t *testing.T) {
	amd := testManifest(t, linuxAmd64, gzipLayer(t, "a", "amd64"))
	arm64 := testManifest(t, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, gzipLayer(t, "a", "arm64"))
	arm := testManifest(t, oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, gzipLayer(t, "a", "arm"))
	img := testIndex(t, amd, arm64, arm)
	for platform, want := range map[string]string{
		"linux/amd64":    amd.Digest,
		"linux/amd64/v1": amd.Digest,
		"linux/arm64":    arm64.Digest,
		"linux/arm64/v8": arm64.Digest,
		"linux/arm":      arm.Digest,
		"linux/arm/v7":   arm.Digest,
	} {
		m, err := SelectManifest(img, platform)
		if err != nil || m.Digest != want {
			t.Errorf("SelectManifest(%q) = %s, %v; want %s", platform, m.Digest, err, want)
		}
	}
	if runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") {
		m, err := SelectManifest(img, "")
		if err != nil || m.Platform.Architecture != runtime.GOARCH {
			t.Errorf("host platform: got %v, %v", m.Platform, err)
		}
	}
	_, err := SelectManifest(img, "windows/amd64")
	if err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8, linux/arm/v7") {
		t.Errorf("missing platform: error %v should list the available ones", err)
	}
	for _, bad := range []string{"linux", "linux/", "a/b/c/d"} {
		if _, err := SelectManifest(img, bad); err == nil {
			t.Errorf("SelectManifest(%q) succeeded", bad)
		}
	}
}

func TestSelectManifestSingle(t *testing.T) {
	arm := testManifest(t, oci.Platform{OS: "linux", Architecture: "arm64"}, gzipLayer(t, "a", "x"))
	arm.Platform = oci.Platform{} // read from the config instead
	img := testIndex(t, arm)
	img.Index, img.IndexDigest = nil, ""
	if m, err := SelectManifest(img, ""); err != nil || m.Digest != arm.Digest {
		t.Errorf("a single manifest loads on any host: %v", err)
	}
	if _, err := SelectManifest(img, "linux/arm64/v8"); err != nil {
		t.Errorf("platform from config: %v", err)
	}
	if _, err := SelectManifest(img, "linux/amd64"); err == nil || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("wrong platform: %v", err)
	}
}

func TestSelectManifests(t *testing.T) {
	amd := testManifest(t, linuxAmd64, gzipLayer(t, "a", "amd64"))
	arm64 := testManifest(t, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, gzipLayer(t, "a", "arm64"))
	img := testIndex(t, amd, arm64)
	digests := func(platform string) string {
		ms, err := SelectManifests(img, platform)
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
	ms, _ := SelectManifests(img, "linux/arm64")
	idx, err := indexFor(img, ms)
	if err != nil || idx.digest == img.IndexDigest || strings.Contains(string(idx.raw), amd.Digest) || !strings.Contains(string(idx.raw), arm64.Digest) {
		t.Errorf("index of one platform: %s, %v", idx.raw, err)
	}
}
