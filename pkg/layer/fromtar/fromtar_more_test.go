package fromtar

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/internal/tartest"
)

func TestFromTar(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{"f": strings.Repeat("0123456789", 50000), "g*": "g"})
	plain := specTar(t, tartest.SpecJSON(dir, `{"target": "//t", "entries": [{"path": "/f", "type": "file", "source": "$D/f"}, {"path": "/g", "type": "file", "source": "$D/g"}]}`))
	// Real tools pad to a 10 KiB record; the padding belongs to the diffID.
	plain = append(plain, make([]byte, 10240-len(plain)%10240)...)
	inputs := map[string][]byte{"none": plain}
	for _, alg := range []string{"gzip", "zstd"} {
		var b bytes.Buffer
		w, _ := compress.NewWriter(&b, compress.Options{Algorithm: alg, Level: -1})
		w.Write(plain)
		w.Close()
		inputs[alg] = b.Bytes()
	}
	for inAlg, in := range inputs {
		for _, outAlg := range []string{"auto", "gzip", "zstd", "none"} {
			var blob bytes.Buffer
			m, err := FromTar(bytes.NewReader(in), &blob, compress.Options{Algorithm: outAlg, Level: -1, Jobs: 2}, TarRules{})
			if err != nil {
				t.Fatalf("%s -> %s: %v", inAlg, outAlg, err)
			}
			stored := outAlg
			if outAlg == "auto" {
				stored = inAlg
				if !bytes.Equal(blob.Bytes(), in) {
					t.Errorf("%s -> auto: blob is not the input", inAlg)
				}
			}
			if m.MediaType != compress.MediaType(stored) {
				t.Errorf("%s -> %s: media type %s", inAlg, outAlg, m.MediaType)
			}
			if m.Digest != tartest.Sha(blob.Bytes()) || m.Size != int64(blob.Len()) {
				t.Errorf("%s -> %s: digest/size mismatch", inAlg, outAlg)
			}
			if m.DiffID != tartest.Sha(plain) {
				t.Errorf("%s -> %s: diffID %s, want %s", inAlg, outAlg, m.DiffID, tartest.Sha(plain))
			}
			if got := tartest.Decompress(t, blob.Bytes(), stored); !bytes.Equal(got, plain) {
				t.Errorf("%s -> %s: blob does not decompress to the input tar", inAlg, outAlg)
			}
		}
	}

	gz := func(b []byte) []byte {
		var out bytes.Buffer
		w, _ := compress.NewWriter(&out, compress.Options{Algorithm: "gzip", Level: -1})
		w.Write(b)
		w.Close()
		return out.Bytes()
	}
	for name, in := range map[string][]byte{
		"empty":          nil,
		"text":           []byte("this is not a tar archive, just some text that is long enough to fill a block? " + strings.Repeat("x", 600)),
		"short":          []byte("hi"),
		"truncated":      plain[:700],
		"gzip of text":   gz([]byte(strings.Repeat("not a tar ", 100))),
		"truncated gzip": inputs["gzip"][:len(inputs["gzip"])/2],
		"bad gzip":       {0x1f, 0x8b, 0, 0, 0, 0},
		"gzip of empty":  gz(nil),
	} {
		for _, outAlg := range []string{"auto", "zstd"} {
			if _, err := FromTar(bytes.NewReader(in), io.Discard, compress.Options{Algorithm: outAlg, Level: -1}, TarRules{}); err == nil {
				t.Errorf("%s -> %s: accepted", name, outAlg)
			}
		}
	}
	if _, err := FromTar(bytes.NewReader(plain), io.Discard, compress.Options{Algorithm: "lz4", Level: -1}, TarRules{}); err == nil || !strings.Contains(err.Error(), "auto") {
		t.Errorf("bad algorithm: %v", err)
	}
}
