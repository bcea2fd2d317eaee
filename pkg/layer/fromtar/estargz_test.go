package fromtar

import (
	"bytes"
	"strings"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/internal/tartest"
)

func TestFromTarEStargz(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{"f": strings.Repeat("0123456789", 50000), "g*": "g"})
	plain := specTar(t, tartest.SpecJSON(dir, `{"target": "//t", "entries": [{"path": "/f", "type": "file", "source": "$D/f"}, {"path": "/g", "type": "file", "source": "$D/g"}]}`))
	// Real tools pad to a 10 KiB record; the padding must be read, not refused.
	plain = append(plain, make([]byte, 10240-len(plain)%10240)...)
	for _, alg := range []string{compress.None, compress.Gzip, compress.Zstd} {
		var in bytes.Buffer
		w, err := compress.NewWriter(&in, compress.Options{Algorithm: alg, Level: -1})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(plain)
		w.Close()
		var blob bytes.Buffer
		m, err := FromTarEStargz(&in, &blob, compress.Options{Algorithm: Auto, Level: -1}, TarRules{})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		got := tartest.Names(t, tartest.VerifyEStargz(t, blob.Bytes(), m))
		if strings.Join(got, " ") != strings.Join([]string{estargz.NoPrefetchLandmark, "f", "g", estargz.TOCTarName}, " ") {
			t.Errorf("%s: entries %v", alg, got)
		}
	}

	// An eStargz layer rewritten as eStargz keeps one landmark and one TOC.
	var first, second bytes.Buffer
	w, _ := compress.NewWriter(&first, compress.Options{Algorithm: compress.None})
	w.Write(plain)
	m, err := FromTarEStargz(&first, &second, compress.Options{Algorithm: Auto, Level: -1}, TarRules{})
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	m2, err := FromTarEStargz(bytes.NewReader(second.Bytes()), &again, compress.Options{Algorithm: Auto, Level: -1}, TarRules{})
	if err != nil {
		t.Fatal(err)
	}
	got := tartest.Names(t, tartest.VerifyEStargz(t, again.Bytes(), m2))
	if strings.Join(got, " ") != strings.Join([]string{estargz.NoPrefetchLandmark, "f", "g", estargz.TOCTarName}, " ") {
		t.Errorf("eStargz of eStargz: entries %v", got)
	}
	if !bytes.Equal(again.Bytes(), second.Bytes()) || m2.Digest != m.Digest {
		t.Errorf("rewriting an eStargz layer as eStargz should give the same bytes")
	}
}
