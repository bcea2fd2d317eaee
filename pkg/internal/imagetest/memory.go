package imagetest

// In-memory images for the packages that read image.Image: loaders,
// tarball writers and manifest selection.

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
func LayerTar(t testing.TB, name, content string) []byte {
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

// GzipBytes compresses b with the standard library.
func GzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// ZstdBytes compresses b as one zstd frame.
func ZstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

// BytesOpener serves b, verified like a real source.
func BytesOpener(b []byte) image.Opener {
	return func(context.Context) (io.ReadCloser, error) {
		return image.Verify(io.NopCloser(bytes.NewReader(b)), oci.Digest(b), int64(len(b)), "test layer"), nil
	}
}

// MemLayer is one in-memory layer: its tar and how it is compressed.
type MemLayer struct {
	Tar       []byte
	Blob      []byte
	MediaType oci.MediaType
}

// GzipLayer is a gzip layer holding one file.
func GzipLayer(t testing.TB, name, content string) MemLayer {
	tb := LayerTar(t, name, content)
	return MemLayer{Tar: tb, Blob: GzipBytes(t, tb), MediaType: "application/vnd.oci.image.layer.v1.tar+gzip"}
}

// ZstdLayer is a zstd layer holding one file.
func ZstdLayer(t testing.TB, name, content string) MemLayer {
	tb := LayerTar(t, name, content)
	return MemLayer{Tar: tb, Blob: ZstdBytes(t, tb), MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}
}

// Manifest builds a single-platform image the way the build writes one.
func Manifest(t testing.TB, p oci.Platform, layers ...MemLayer) image.Manifest {
	t.Helper()
	cfg := oci.ImageConfig{
		Architecture: p.Architecture, OS: p.OS, Variant: p.Variant,
		Config: oci.ContainerConfig{Cmd: []string{"/hello"}},
		RootFS: oci.RootFS{Type: "layers", DiffIDs: []string{}},
	}
	man := oci.Manifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.manifest.v1+json", Layers: []oci.Descriptor{}}
	var ls []image.Layer
	for _, l := range layers {
		diffID := oci.Digest(l.Tar)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		d := oci.DescriptorFor(l.MediaType, l.Blob)
		man.Layers = append(man.Layers, d)
		ls = append(ls, image.Layer{MediaType: l.MediaType, Digest: d.Digest, Size: d.Size, DiffID: diffID, Open: BytesOpener(l.Blob)})
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

// Index wraps manifests in an index.
func Index(t testing.TB, ms ...image.Manifest) *image.Image {
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
