package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSpec: the deploy spec a launcher reads; a user's own rule could
// write it. Bad specs fail with an error, never a panic.
func FuzzReadSpec(f *testing.F) {
	f.Add([]byte(`{"operation": "push", "label": "//a:b", "image": {"manifests": [{"manifest": "m", "config": "c", "descriptor": "d", "layers": [{"metadata": "l"}]}]}, "tags": ["v1"], "registry": "r", "repository": "x"}`))
	f.Add([]byte(`{"operation": "load", "image": {"manifests": [{}]}, "stamped": "stamp.json", "tag_file": "tags.txt"}`))
	f.Add([]byte(`{"operation": "tarball", "image": {"index": "i", "manifests": []}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Paths stay inside the fixture: reading /dev/zero tests the disk.
		if bytes.Contains(b, []byte(`"/`)) || bytes.Contains(b, []byte(`..`)) || bytes.Contains(b, []byte(`\`)) {
			return
		}
		root := t.TempDir()
		os.WriteFile(filepath.Join(root, "stamp.json"), []byte(`{"tags": ["a"], "repository": "r"}`), 0o644)
		os.WriteFile(filepath.Join(root, "tags.txt"), []byte("a\n# c\nb\n"), 0o644)
		p := filepath.Join(root, "spec.json")
		os.WriteFile(p, b, 0o644)
		s, err := ReadSpec(p, root)
		if err == nil && len(s.Image.Manifests) == 0 {
			t.Fatal("accepted a spec without manifests")
		}
	})
}
