package load

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
)

// layerTar is an uncompressed layer holding one file.
func layerTar(t testing.TB, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(content)), ModTime: time.Unix(1, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// bytesOpener serves b, verified like a real source.
func bytesOpener(b []byte) image.Opener {
	return func(context.Context) (io.ReadCloser, error) {
		return image.Verify(io.NopCloser(bytes.NewReader(b)), oci.Digest(b), int64(len(b)), "test layer"), nil
	}
}

// testLayer describes one layer: its tar and how it is compressed.
type testLayer struct {
	tar       []byte
	blob      []byte
	mediaType oci.MediaType
}

func gzipLayer(t testing.TB, name, content string) testLayer {
	tb := layerTar(t, name, content)
	return testLayer{tar: tb, blob: gzipBytes(t, tb), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip"}
}

func zstdLayer(t testing.TB, name, content string) testLayer {
	tb := layerTar(t, name, content)
	return testLayer{tar: tb, blob: zstdBytes(t, tb), mediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}
}

// testManifest builds a single-platform image the way the build writes one.
func testManifest(t testing.TB, p oci.Platform, layers ...testLayer) image.Manifest {
	t.Helper()
	cfg := oci.ImageConfig{
		Architecture: p.Architecture, OS: p.OS, Variant: p.Variant,
		Config: oci.ContainerConfig{Cmd: []string{"/hello"}},
		RootFS: oci.RootFS{Type: "layers", DiffIDs: []string{}},
	}
	man := oci.Manifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{}}
	var ls []image.Layer
	for _, l := range layers {
		diffID := oci.Digest(l.tar)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		d := oci.DescriptorFor(l.mediaType, l.blob)
		man.Layers = append(man.Layers, d)
		ls = append(ls, image.Layer{MediaType: l.mediaType, Digest: d.Digest, Size: d.Size, DiffID: diffID, Open: bytesOpener(l.blob)})
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	man.Config = oci.DescriptorFor("application/vnd.oci.image.config.v1+json", cfgJSON)
	raw, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	return image.Manifest{
		Raw: raw, Digest: oci.Digest(raw), MediaType: man.MediaType, Platform: p,
		Config: cfgJSON, ConfigDigest: man.Config.Digest, ConfigMediaType: man.Config.MediaType,
		Layers: ls,
	}
}

var linuxAmd64 = oci.Platform{OS: "linux", Architecture: "amd64"}

// testIndex wraps manifests in an index.
func testIndex(t testing.TB, ms ...image.Manifest) *image.Image {
	t.Helper()
	idx := oci.Index{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json"}
	for _, m := range ms {
		p := m.Platform
		idx.Manifests = append(idx.Manifests, oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Raw)), Platform: &p})
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return &image.Image{Index: raw, IndexDigest: oci.Digest(raw), Manifests: ms}
}
