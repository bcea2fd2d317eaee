package daemon

import (
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/oci"
)

// TestIndexOfSubset: a load of some platforms names an index of only those.
func TestIndexOfSubset(t *testing.T) {
	amd := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "amd64"))
	arm64 := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, imagetest.GzipLayer(t, "a", "arm64"))
	img := imagetest.Index(t, amd, arm64)
	ms, _ := image.SelectManifests(img, "linux/arm64")
	idx, err := indexFor(img, ms)
	if err != nil || idx.digest == img.IndexDigest || strings.Contains(string(idx.raw), amd.Digest) || !strings.Contains(string(idx.raw), arm64.Digest) {
		t.Errorf("index of one platform: %s, %v", idx.raw, err)
	}
}
