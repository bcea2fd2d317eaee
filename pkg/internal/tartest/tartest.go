// Package tartest reads and writes the tars and files layer tests need.
package tartest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/layer/estargz"
	"github.com/rules-img/rules_img/pkg/oci"
)

// WriteFiles creates files under dir; a value starting with "->" makes a
// symlink, a key ending in "*" makes an executable file.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		perm := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, perm = strings.TrimSuffix(name, "*"), 0o755
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil { // umask-proof
			t.Fatal(err)
		}
	}
}

// Entry is one tar entry as the tests compare it.
type Entry struct {
	Name, Link, Content, Uname, Gname string
	Type                              byte
	Mode                              int64
	UID, GID                          int
	Mtime                             int64
	PAX                               map[string]string
	Format                            tar.Format
}

// ListTar lists the tar in b.
func ListTar(t testing.TB, b []byte) []Entry {
	t.Helper()
	var out []Entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		e := Entry{Name: h.Name, Link: h.Linkname, Content: string(c), Uname: h.Uname, Gname: h.Gname,
			Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Mtime: h.ModTime.Unix(), Format: h.Format}
		for k, v := range h.PAXRecords {
			if !strings.HasPrefix(k, "path") && k != "linkpath" && k != "uid" && k != "gid" {
				if e.PAX == nil {
					e.PAX = map[string]string{}
				}
				e.PAX[k] = v
			}
		}
		out = append(out, e)
	}
}

// Sha is the OCI digest of b.
func Sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// Decompress decompresses b with alg.
func Decompress(t testing.TB, b []byte, alg string) []byte {
	t.Helper()
	r, err := compress.NewReader(bytes.NewReader(b), alg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SpecJSON fills "$D" with dir (JSON-escaped) so specs can name temp files.
func SpecJSON(dir, js string) string {
	d, _ := json.Marshal(dir)
	return strings.ReplaceAll(js, "$D", strings.Trim(string(d), `"`))
}

// VerifyEStargz is the judge of every eStargz layer the tests write: the
// estargz package opens the blob, checks its TOC against the annotation and
// every chunk of every file against the TOC. It also checks the metadata
// against the blob and returns the decompressed tar.
func VerifyEStargz(t testing.TB, blob []byte, m oci.LayerMetadata) []byte {
	t.Helper()
	if m.Digest != Sha(blob) || m.Size != int64(len(blob)) {
		t.Fatalf("digest/size %s/%d, blob has %s/%d", m.Digest, m.Size, Sha(blob), len(blob))
	}
	if m.MediaType != oci.MediaTypeLayerGzip {
		t.Errorf("media type %s", m.MediaType)
	}
	files, err := estargz.Verify(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))), m.Annotations[estargz.AnnotationTOCDigest])
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Error("the TOC lists no regular file")
	}
	plain := Decompress(t, blob, compress.Gzip)
	if m.DiffID != Sha(plain) {
		t.Errorf("diffID %s, decompressed blob %s", m.DiffID, Sha(plain))
	}
	if got := m.Annotations[estargz.AnnotationUncompressedSize]; got != strconv.Itoa(len(plain)) {
		t.Errorf("uncompressed size annotation %s, decompressed blob has %d bytes", got, len(plain))
	}
	return plain
}

// Names lists the entry names of the tar in plain.
func Names(t testing.TB, plain []byte) []string {
	var out []string
	for _, e := range ListTar(t, plain) {
		out = append(out, e.Name)
	}
	return out
}
