package layer

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/internal/tartest"
	"github.com/rules-img/rules_img/pkg/oci"
)

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
	tartest.WriteFiles(t, dir, map[string]string{"a": "alpha", "b": "alpha", "bin/start*": "#!/bin/sh\necho hi\n", "empty": ""})
	js := tartest.SpecJSON(dir, `{"target": "//app:layer", "create_parent_directories": true, %s "entries": [
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
	plain := tartest.VerifyEStargz(t, blob, m)
	got := tartest.Names(t, plain)
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
	got = tartest.Names(t, tartest.VerifyEStargz(t, blob, m))
	want := []string{"usr/", "usr/bin/", "usr/bin/start", "etc/", "etc/b", estargz.PrefetchLandmark}
	if len(got) < len(want) || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("prioritized layout %v, want it to start with %v", got, want)
	}

	if _, _, err := build(`"prioritized_files": ["/usr/bin/nope"],`, gz); err == nil || !strings.Contains(err.Error(), "//app:layer") || !strings.Contains(err.Error(), "/usr/bin/nope is not in the layer") {
		t.Errorf("a prioritized path missing from the layer: %v", err)
	}
	reserved := mustParse(t, tartest.SpecJSON(dir, `{"target": "//app:layer", "entries": [{"path": "/stargz.index.json", "type": "file", "source": "$D/a"}]}`))
	if _, err := BuildEStargz(reserved, io.Discard, gz); err == nil || !strings.Contains(err.Error(), "/stargz.index.json") || !strings.Contains(err.Error(), "reserves") {
		t.Errorf("a file at eStargz's TOC path: %v", err)
	}
	for _, alg := range []string{compress.Zstd, compress.None} {
		if _, _, err := build("", compress.Options{Algorithm: alg, Level: -1}); err == nil || !strings.Contains(err.Error(), "eStargz is gzip") {
			t.Errorf("%s: %v", alg, err)
		}
	}
}
