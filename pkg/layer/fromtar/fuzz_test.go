package fromtar

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/internal/tartest"
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
			if m.Digest != tartest.Sha(blob.Bytes()) || m.Size != int64(blob.Len()) {
				t.Fatalf("%s: metadata does not match the blob", alg)
			}
			plain := blob.Bytes()
			if m.MediaType == compress.MediaType(compress.Gzip) || m.MediaType == compress.MediaType(compress.Zstd) {
				plain = tartest.Decompress(t, plain, compress.Detect(plain))
			}
			if m.DiffID != tartest.Sha(plain) {
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
