package layer

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/tartest"
)

// FuzzParseSpec: a layer spec is outside input to img (a rule wrote it, or a
// user's own rule did). Parsing must fail cleanly, never panic.
func FuzzParseSpec(f *testing.F) {
	f.Add(`{"target": "//t", "entries": [{"path": "/f", "type": "file", "source": "f", "executable": true}]}`)
	f.Add(`{"target": "//t", "entries": [{"path": "/d", "type": "dir"}, {"path": "/l", "type": "symlink", "target": "/d"}], "default_metadata": {"mode": "0644", "uid": 1, "mtime": "2020-01-01T00:00:00Z"}}`)
	f.Add(`{"target": "//t", "entries": [{"path": "/a/../b", "type": "file"}], "file_metadata": {"/b": {"mode": "rwx"}}}`)
	f.Add(`{"entries": null}`)
	src := f.TempDir()
	tartest.WriteFiles(f, src, map[string]string{"f": "file", "t/a": "a", "t/b/c": "c"})
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSpec(strings.NewReader(in))
		if err != nil {
			return
		}
		// Sources stay inside a fixture: a spec naming /dev/zero would
		// only test the disk.
		for i := range s.Entries {
			switch s.Entries[i].Type {
			case "file":
				s.Entries[i].Source = src + "/f"
			case "tree":
				s.Entries[i].Source = src + "/t"
			}
		}
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			return
		}
		tr := tar.NewReader(&b)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("written tar does not read back: %v", err)
			}
			c, err := checkPath("/" + strings.TrimSuffix(h.Name, "/"))
			if err != nil || c != strings.TrimSuffix(h.Name, "/") || c == "" {
				t.Fatalf("spec %s wrote the name %q", in, h.Name)
			}
		}
	})
}
