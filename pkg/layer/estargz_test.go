package layer

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// verifyEStargz is the judge of every eStargz layer the tests write: the
// estargz package opens the blob, checks its TOC against the annotation and
// every chunk of every file against the TOC. It also checks the metadata
// against the blob and returns the decompressed tar.
func verifyEStargz(t *testing.T, blob []byte, m oci.LayerMetadata) []byte {
	t.Helper()
	if m.Digest != sha(blob) || m.Size != int64(len(blob)) {
		t.Fatalf("digest/size %s/%d, blob has %s/%d", m.Digest, m.Size, sha(blob), len(blob))
	}
	if m.MediaType != oci.MediaTypeLayerGzip {
		t.Errorf("media type %s", m.MediaType)
	}
	files, err := VerifyEStargz(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))), m.Annotations[AnnotationTOCDigest])
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Error("the TOC lists no regular file")
	}
	plain := decompress(t, blob, compress.Gzip)
	if m.DiffID != sha(plain) {
		t.Errorf("diffID %s, decompressed blob %s", m.DiffID, sha(plain))
	}
	if got := m.Annotations[AnnotationUncompressedSize]; got != strconv.Itoa(len(plain)) {
		t.Errorf("uncompressed size annotation %s, decompressed blob has %d bytes", got, len(plain))
	}
	return plain
}

func names(t *testing.T, plain []byte) []string {
	var out []string
	for _, e := range listTar(t, plain) {
		out = append(out, e.Name)
	}
	return out
}

func TestBuildEStargz(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 9<<20+123) // three chunks
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.IntN(16))
	}
	if err := os.WriteFile(filepath.Join(dir, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"a": "alpha", "b": "alpha", "bin/start*": "#!/bin/sh\necho hi\n", "empty": ""})
	js := specJSON(dir, `{"target": "//app:layer", "create_parent_directories": true, %s "entries": [
		{"path": "/data/big", "type": "file", "source": "$D/big"},
		{"path": "/etc/a", "type": "file", "source": "$D/a"},
		{"path": "/etc/b", "type": "file", "source": "$D/b"},
		{"path": "/empty", "type": "file", "source": "$D/empty"},
		{"path": "/usr/bin/start", "type": "file", "source": "$D/bin/start", "executable": true},
		{"path": "/usr/bin/go", "type": "symlink", "target": "start"}]}`)
	build := func(prioritized string, c compress.Options) ([]byte, oci.LayerMetadata, error) {
		s := mustParse(t, strings.Replace(js, "%s", prioritized, 1))
		var b bytes.Buffer
		m, err := BuildEStargz(s, &b, c)
		return b.Bytes(), m, err
	}
	gz := compress.Options{Algorithm: compress.Gzip, Level: 1}

	blob, m, err := build("", gz)
	if err != nil {
		t.Fatal(err)
	}
	plain := verifyEStargz(t, blob, m)
	got := names(t, plain)
	if got[0] != estargz.NoPrefetchLandmark || got[len(got)-1] != estargz.TOCTarName {
		t.Errorf("without prioritized files the tar starts with the no-prefetch landmark and ends with the TOC: %v", got)
	}
	// The same inputs give the same bytes, whatever the level of parallelism asked.
	again, m2, err := build("", compress.Options{Algorithm: compress.Gzip, Level: 1, Jobs: 4})
	if err != nil || !bytes.Equal(again, blob) || m2.Digest != m.Digest {
		t.Errorf("a second build differs (%v)", err)
	}

	blob, m, err = build(`"prioritized_files": ["/usr/bin/start", "/etc/b"],`, gz)
	if err != nil {
		t.Fatal(err)
	}
	got = names(t, verifyEStargz(t, blob, m))
	want := []string{"usr/", "usr/bin/", "usr/bin/start", "etc/", "etc/b", estargz.PrefetchLandmark}
	if len(got) < len(want) || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("prioritized layout %v, want it to start with %v", got, want)
	}

	if _, _, err := build(`"prioritized_files": ["/usr/bin/nope"],`, gz); err == nil || !strings.Contains(err.Error(), "//app:layer") || !strings.Contains(err.Error(), "/usr/bin/nope is not in the layer") {
		t.Errorf("a prioritized path missing from the layer: %v", err)
	}
	reserved := mustParse(t, specJSON(dir, `{"target": "//app:layer", "entries": [{"path": "/stargz.index.json", "type": "file", "source": "$D/a"}]}`))
	if _, err := BuildEStargz(reserved, io.Discard, gz); err == nil || !strings.Contains(err.Error(), "/stargz.index.json") || !strings.Contains(err.Error(), "reserves") {
		t.Errorf("a file at eStargz's TOC path: %v", err)
	}
	for _, alg := range []string{compress.Zstd, compress.None} {
		if _, _, err := build("", compress.Options{Algorithm: alg, Level: -1}); err == nil || !strings.Contains(err.Error(), "eStargz is gzip") {
			t.Errorf("%s: %v", alg, err)
		}
	}
}

func TestFromTarEStargz(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f": strings.Repeat("0123456789", 50000), "g*": "g"})
	s := mustParse(t, specJSON(dir, `{"target": "//t", "entries": [{"path": "/f", "type": "file", "source": "$D/f"}, {"path": "/g", "type": "file", "source": "$D/g"}]}`))
	plain := tarBytes(t, s)
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
		got := names(t, verifyEStargz(t, blob.Bytes(), m))
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
	got := names(t, verifyEStargz(t, again.Bytes(), m2))
	if strings.Join(got, " ") != strings.Join([]string{estargz.NoPrefetchLandmark, "f", "g", estargz.TOCTarName}, " ") {
		t.Errorf("eStargz of eStargz: entries %v", got)
	}
	if !bytes.Equal(again.Bytes(), second.Bytes()) || m2.Digest != m.Digest {
		t.Errorf("rewriting an eStargz layer as eStargz should give the same bytes")
	}
}
