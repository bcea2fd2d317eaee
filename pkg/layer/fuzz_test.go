package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
)

// FuzzFromTar feeds arbitrary bytes to FromTar. Whatever it accepts must be
// a tar whose every name is canonical, with metadata that matches the blob.
func FuzzFromTar(f *testing.F) {
	f.Add(makeTar(f, file("a", "x"), dirEntry("d/"), link(tar.TypeSymlink, "d/l", "/a"), link(tar.TypeLink, "h", "a")))
	f.Add(gzipped(f, makeTar(f, file("./a", "x"), file("/b", "y"), dirEntry("./"))))
	f.Add(makeTar(f, file("../evil", "x")))
	f.Add(makeTar(f, link(tar.TypeSymlink, "l", "/etc"), file("l/passwd", "x")))
	f.Add(makeTar(f, special(tar.TypeChar, "dev/x"), special('V', "v")))
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, alg := range []string{Auto, compress.None} {
			var blob bytes.Buffer
			m, err := FromTar(bytes.NewReader(in), &blob, compress.Options{Algorithm: alg, Level: -1, Jobs: 1}, TarRules{})
			if err != nil {
				if strings.ContainsAny(err.Error(), "\n") && !errors.Is(err, io.ErrUnexpectedEOF) {
					var ee *EntryError
					if errors.As(err, &ee) {
						// Entry names are quoted with %q, so never span lines.
						t.Fatalf("%s: error spans lines: %q", alg, err)
					}
				}
				continue
			}
			if m.Digest != sha(blob.Bytes()) || m.Size != int64(blob.Len()) {
				t.Fatalf("%s: metadata does not match the blob", alg)
			}
			plain := blob.Bytes()
			if m.MediaType == compress.MediaType(compress.Gzip) || m.MediaType == compress.MediaType(compress.Zstd) {
				plain = decompress(t, plain, compress.Detect(plain))
			}
			if m.DiffID != sha(plain) {
				t.Fatalf("%s: diffID does not match the tar", alg)
			}
			tr := tar.NewReader(bytes.NewReader(plain))
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: accepted tar does not read back: %v", alg, err)
				}
				if h.Typeflag == tar.TypeXGlobalHeader {
					continue
				}
				c, err := canonicalPath(h.Name)
				if err != nil || c != strings.TrimSuffix(h.Name, "/") || c == "" {
					t.Fatalf("%s: accepted name %q is not canonical", alg, h.Name)
				}
			}
		}
	})
}

// FuzzParseSpec: a layer spec is outside input to img (a rule wrote it, or a
// user's own rule did). Parsing must fail cleanly, never panic.
func FuzzParseSpec(f *testing.F) {
	f.Add(`{"target": "//t", "entries": [{"path": "/f", "type": "file", "source": "f", "executable": true}]}`)
	f.Add(`{"target": "//t", "entries": [{"path": "/d", "type": "dir"}, {"path": "/l", "type": "symlink", "target": "/d"}], "default_metadata": {"mode": "0644", "uid": 1, "mtime": "2020-01-01T00:00:00Z"}}`)
	f.Add(`{"target": "//t", "entries": [{"path": "/a/../b", "type": "file"}], "file_metadata": {"/b": {"mode": "rwx"}}}`)
	f.Add(`{"entries": null}`)
	src := f.TempDir()
	writeFiles(f, src, map[string]string{"f": "file", "t/a": "a", "t/b/c": "c"})
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
			c, err := canonicalPath(h.Name)
			if err != nil || c != strings.TrimSuffix(h.Name, "/") || c == "" {
				t.Fatalf("spec %s wrote the name %q", in, h.Name)
			}
		}
	})
}
