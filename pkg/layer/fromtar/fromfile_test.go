package fromtar

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestFromFile(t *testing.T) {
	dir := t.TempDir()
	digest := func(b []byte) string {
		s := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(s[:])
	}
	chart := []byte("a helm chart, as it is")
	p := filepath.Join(dir, "chart.tgz")
	os.WriteFile(p, chart, 0o644)
	m, err := FromFile(p, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", false)
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest != digest(chart) || m.DiffID != m.Digest || m.Size != int64(len(chart)) || m.MediaType != "application/vnd.cncf.helm.chart.content.v1.tar+gzip" {
		t.Errorf("artifact: %+v", m)
	}

	// diff_id: the digest of the decompressed bytes.
	raw := []byte("pretend this is a tar")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	os.WriteFile(p, gz.Bytes(), 0o644)
	if m, err = FromFile(p, "application/vnd.oci.image.layer.v1.tar+gzip", true); err != nil {
		t.Fatal(err)
	}
	if m.Digest != digest(gz.Bytes()) || m.DiffID != digest(raw) {
		t.Errorf("gzip with diff_id: %+v, want diffID %s", m, digest(raw))
	}
	if _, err := FromFile(filepath.Join(dir, "missing"), "x/y", false); err == nil {
		t.Error("a missing file: no error")
	}
}
