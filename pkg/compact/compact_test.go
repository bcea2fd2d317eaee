package compact

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/layer/blob"
	"github.com/rules-img/rules_img/pkg/oci"
)

// writeTar writes a tar of files to w.
func writeTar(t *testing.T, w io.Writer, files map[string][]byte, order []string) {
	t.Helper()
	tw := tar.NewWriter(w)
	// Entries around the files that carry extension records and no content.
	long := strings.Repeat("d/", 60) + "x"
	for _, h := range []*tar.Header{
		{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: long, Typeflag: tar.TypeSymlink, Linkname: "big"},
		{Name: "pax", Typeflag: tar.TypeReg, Mode: 0o644, Size: 100000, PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte{'p'}, int(h.Size)))
		}
	}
	for _, name := range order {
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	big := make([]byte, 3<<20)
	r.Read(big)
	files := map[string][]byte{
		"small":  []byte("hello"),
		"big":    big,
		"again":  big, // the same content: one CAS entry
		"medium": bytes.Repeat([]byte("abc"), 100000),
	}
	order := []string{"small", "big", "medium", "again"}
	for _, c := range []compress.Options{
		{Algorithm: compress.Gzip, Level: 1, Jobs: 1},
		{Algorithm: compress.Gzip, Level: 1, Jobs: 2},
		{Algorithm: compress.Gzip, Level: 1, Jobs: 7},
		{Algorithm: compress.Zstd, Level: 1, Jobs: 1},
		{Algorithm: compress.None},
	} {
		t.Run(fmt.Sprintf("%s-%d", c.Algorithm, c.Jobs), func(t *testing.T) {
			dir := t.TempDir()
			var stream, layer bytes.Buffer
			rec, err := NewRecorder(&stream, filepath.Join(dir, "cas"))
			if err != nil {
				t.Fatal(err)
			}
			md, err := blob.Write(&layer, c, func(w io.Writer) error {
				writeTar(t, io.MultiWriter(w, rec), files, order)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := rec.Close(c, md); err != nil {
				t.Fatal(err)
			}
			if h, _, err := ReadHeader(bytes.NewReader(stream.Bytes()), int64(stream.Len())); err != nil || h.Compression.Jobs > 2 {
				t.Errorf("header %+v (%v): the worker count reached the stream", h, err)
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "cas", "sha256"))
			if len(entries) != 3 {
				t.Errorf("%d CAS entries, want 3 (pax, big, medium)", len(entries))
			}
			if stream.Len() > 64<<10 {
				t.Errorf("compact stream of %d bytes for a %d-byte layer", stream.Len(), layer.Len())
			}
			var rebuilt bytes.Buffer
			got, err := Rebuild(bytes.NewReader(stream.Bytes()), int64(stream.Len()), DirOpener(filepath.Join(dir, "cas")), &rebuilt)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rebuilt.Bytes(), layer.Bytes()) || got.Digest != md.Digest || got.Digest != oci.Digest(layer.Bytes()) {
				t.Fatalf("rebuilt %d bytes %s, want %d bytes %s", rebuilt.Len(), got.Digest, layer.Len(), md.Digest)
			}

			// A changed CAS entry is caught by its digest.
			p := filepath.Join(dir, "cas", "sha256", entries[0].Name())
			b, _ := os.ReadFile(p)
			b[0] ^= 1
			os.WriteFile(p, b, 0o644)
			if _, err := Rebuild(bytes.NewReader(stream.Bytes()), int64(stream.Len()), DirOpener(filepath.Join(dir, "cas")), io.Discard); err == nil {
				t.Error("a corrupt CAS entry went unnoticed")
			}
		})
	}
}

func TestNotACompactStream(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte("x"), 100)} {
		if _, _, err := ReadHeader(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Errorf("%q read as a compact stream", b)
		}
	}
}
