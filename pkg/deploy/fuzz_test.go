package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
		if err != nil {
			return
		}
		if len(s.Image.Manifests) == 0 {
			t.Fatal("accepted a spec without manifests")
		}
		if s.Operation != "push" && s.Operation != "load" && s.Operation != "tarball" {
			t.Fatalf("accepted operation %q", s.Operation)
		}
		if _, err := ParseStrategy(string(s.Strategy)); err != nil {
			t.Fatalf("accepted strategy %q", s.Strategy)
		}
		// A tag file's comments and blank lines never become tags, and a
		// destination file is one registry/repository pair.
		if s.TagFile == "tags.txt" {
			for _, tag := range s.Tags[len(s.Tags)-2:] {
				if tag != "a" && tag != "b" {
					t.Fatalf("tags from tags.txt: %q", s.Tags)
				}
			}
		}
		if s.DestinationFile != "" && (s.Registry == "" || s.Repository == "" || strings.ContainsAny(s.Registry+s.Repository, " \t\n")) {
			t.Fatalf("destination %q %q", s.Registry, s.Repository)
		}
	})
}
