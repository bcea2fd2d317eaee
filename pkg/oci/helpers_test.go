package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testLayer is a real gzip'd tar layer on disk with its metadata.
type testLayer struct {
	Blob     string // path of the .tar.gz
	Metadata string // path of the metadata JSON
	Meta     LayerMetadata
}

// makeTestLayer writes a tiny tar.gz holding the given files and metadata
// computed by hashing it, as `img layer` would.
func makeTestLayer(t *testing.T, dir, name string, files map[string]string) testLayer {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		body := files[p]
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	l := testLayer{
		Blob:     filepath.Join(dir, name+".tar.gz"),
		Metadata: filepath.Join(dir, name+".json"),
		Meta: LayerMetadata{
			MediaType: MediaTypeLayerGzip,
			Digest:    Digest(gzBuf.Bytes()),
			Size:      int64(gzBuf.Len()),
			DiffID:    Digest(tarBuf.Bytes()),
		},
	}
	writeFile(t, l.Blob, gzBuf.String())
	writeJSONFile(t, l.Metadata, l.Meta)
	return l
}

// fakeMeta returns metadata with well-formed but made-up digests, for tests
// that never read blobs.
func fakeMeta(n int) LayerMetadata {
	h := func(s string) string { return Digest([]byte(s)) }
	return LayerMetadata{
		MediaType: MediaTypeLayerGzip,
		Digest:    h("blob" + string(rune('a'+n))),
		Size:      int64(100 + n),
		DiffID:    h("diff" + string(rune('a'+n))),
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// imageOut returns ImageFiles outputs under dir.
func imageOut(dir string, f ImageFiles) ImageFiles {
	f.Manifest = filepath.Join(dir, "manifest.json")
	f.Config = filepath.Join(dir, "config.json")
	f.Descriptor = filepath.Join(dir, "descriptor.json")
	return f
}

// dirNames lists a directory, failing the test on error.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}
