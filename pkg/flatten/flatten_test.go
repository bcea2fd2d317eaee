package flatten

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

type ent struct{ name, body, link string }

func writeLayer(t *testing.T, dir, name string, gz bool, entries ...ent) Layer {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	mt := oci.MediaTypeLayer
	if zw != nil {
		zw.Close()
		mt = oci.MediaTypeLayerGzip
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Layer{MediaType: mt, Path: p}
}

// Whiteouts, opaque directories, replaced files and paths below a link a
// higher layer made are applied; lower layers' entries come first.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	base := writeLayer(t, dir, "base", true,
		ent{name: "a/"}, ent{name: "a/file", body: "base file"}, ent{name: "a/dir/"}, ent{name: "a/dir/x", body: "x"},
		ent{name: "b", body: "removed"}, ent{name: "keep", body: "old"}, ent{name: "c/"}, ent{name: "c/inner", body: "hidden by a link"})
	top := writeLayer(t, dir, "top", false,
		ent{name: ".wh.b"}, ent{name: "a/dir/.wh..wh..opq"}, ent{name: "a/dir/y", body: "y"},
		ent{name: "keep", body: "new"}, ent{name: "c", link: "/a"})
	var out bytes.Buffer
	if err := Write([]Layer{base, top}, &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	content := map[string]string{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		content[h.Name] = string(b)
	}
	if got, want := strings.Join(names, " "), "a/ a/file a/dir/ a/dir/y keep c"; got != want {
		t.Errorf("entries %q, want %q", got, want)
	}
	if content["keep"] != "new" || content["a/dir/y"] != "y" {
		t.Errorf("content %v", content)
	}
}
