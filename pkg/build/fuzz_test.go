package build

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

func fuzzFile(t *testing.T, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzReadBaseImage: a pulled manifest and config, as a registry served them.
func FuzzReadBaseImage(f *testing.F) {
	cfg := []byte(`{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:` + zeros + `"]}}`)
	man := []byte(`{"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "` + oci.Digest(cfg) + `", "size": 10}, "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": "sha256:` + zeros + `", "size": 5}]}`)
	f.Add(man, cfg)
	f.Add([]byte(`{"manifests": []}`), cfg)
	f.Fuzz(func(t *testing.T, man, cfg []byte) {
		b, err := ReadBase(fuzzFile(t, "c.json", cfg), fuzzFile(t, "m.json", man))
		if err != nil {
			return
		}
		if b.Manifest.Config.Digest != oci.Digest(cfg) || len(b.Manifest.Layers) != len(b.Config.RootFS.DiffIDs) {
			t.Fatal("accepted a manifest and config that do not belong together")
		}
		for _, l := range b.Manifest.Layers {
			if oci.CheckDigest(l.Digest) != nil {
				t.Fatalf("accepted layer digest %q", l.Digest)
			}
		}
	})
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
