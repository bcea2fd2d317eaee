// Package imagetest holds what the tests of pkg/build and pkg/layout share:
// real layers on disk, made-up metadata, and small file helpers.
package imagetest

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

	"github.com/rules-img/rules_img/pkg/oci"
)

// Layer is a real gzip'd tar layer on disk with its metadata.
type Layer struct {
	Blob     string // path of the .tar.gz
	Metadata string // path of the metadata JSON
	Meta     oci.LayerMetadata
}

// MakeLayer writes a tiny tar.gz holding the given files and metadata
// computed by hashing it, as `img layer` would.
func MakeLayer(t testing.TB, dir, name string, files map[string]string) Layer {
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
	l := Layer{
		Blob:     filepath.Join(dir, name+".tar.gz"),
		Metadata: filepath.Join(dir, name+".json"),
		Meta: oci.LayerMetadata{
			MediaType: oci.MediaTypeLayerGzip,
			Digest:    oci.Digest(gzBuf.Bytes()),
			Size:      int64(gzBuf.Len()),
			DiffID:    oci.Digest(tarBuf.Bytes()),
		},
	}
	WriteFile(t, l.Blob, gzBuf.String())
	WriteJSON(t, l.Metadata, l.Meta)
	return l
}

// FakeMeta returns metadata with well-formed but made-up digests, for tests
// that never read blobs.
func FakeMeta(n int) oci.LayerMetadata {
	h := func(s string) string { return oci.Digest([]byte(s)) }
	return oci.LayerMetadata{
		MediaType: oci.MediaTypeLayerGzip,
		Digest:    h("blob" + string(rune('a'+n))),
		Size:      int64(100 + n),
		DiffID:    h("diff" + string(rune('a'+n))),
	}
}

// WriteFile writes content to path.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteJSON writes v as JSON to path.
func WriteJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, path, string(b))
}

// ReadFile reads path.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DirNames lists a directory, failing the test on error.
func DirNames(t testing.TB, dir string) []string {
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

// WantErr fails unless err contains every part.
func WantErr(t testing.TB, err error, parts ...string) {
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

// LinuxAmd64 is the platform most tests build for.
var LinuxAmd64 = oci.Platform{OS: "linux", Architecture: "amd64"}

// WriteSpec writes a config spec as DIR/spec.json and returns its path.
func WriteSpec(t testing.TB, dir, spec string) string {
	t.Helper()
	p := filepath.Join(dir, "spec.json")
	WriteFile(t, p, spec)
	return p
}
