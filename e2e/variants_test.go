//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestVariantConstraints builds an index of one image for two x86-64 levels,
// platforms written as upstream rules_img's docs write them (its
// //img/constraints/amd64:v3 and :v4 on a linux_amd64 parent): it lists two
// amd64 images told apart by their variant, where without the constraints it
// would be two images for one platform.
func TestVariantConstraints(t *testing.T) {
	layout := layoutOf(t, ws, "//hello:amd64_levels")
	var index struct {
		Manifests []struct {
			Digest   string
			Platform struct{ OS, Architecture, Variant string }
		}
	}
	readJSON(t, filepath.Join(layout, "index.json"), &index)
	// The layout's index.json points at the built index.
	if len(index.Manifests) == 1 {
		b, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", index.Manifests[0].Digest[len("sha256:"):]))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &index); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, m := range index.Manifests {
		got = append(got, m.Platform.OS+"/"+m.Platform.Architecture+"/"+m.Platform.Variant)
	}
	if len(got) != 2 || got[0] != "linux/amd64/v3" || got[1] != "linux/amd64/v4" || index.Manifests[0].Digest == index.Manifests[1].Digest {
		t.Errorf("//hello:amd64_levels lists %v, want two images for linux/amd64/v3 and linux/amd64/v4", got)
	}
}
