package sign

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
)

// ReadArtifact reads the OCI image layout tar a plugin answers: its
// index.json must list exactly one manifest, whose blobs are all there and
// match their digests.
func ReadArtifact(tarball []byte) (*image.Image, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[path.Clean(strings.TrimPrefix(h.Name, "./"))] = b
	}
	var idx oci.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		return nil, fmt.Errorf("no OCI layout: index.json: %v", err)
	}
	if len(idx.Manifests) != 1 {
		return nil, fmt.Errorf("index.json lists %d manifests; a signature artifact is one", len(idx.Manifests))
	}
	blob := func(d oci.Descriptor) ([]byte, error) {
		if err := oci.CheckDigest(d.Digest); err != nil {
			return nil, err
		}
		alg, hex, _ := strings.Cut(d.Digest, ":")
		b, ok := files["blobs/"+alg+"/"+hex]
		if !ok {
			return nil, fmt.Errorf("blob %s is missing", d.Digest)
		}
		if oci.Digest(b) != d.Digest || int64(len(b)) != d.Size {
			return nil, fmt.Errorf("blob %s does not match its descriptor", d.Digest)
		}
		return b, nil
	}
	md := idx.Manifests[0]
	if !md.MediaType.IsManifest() {
		return nil, fmt.Errorf("%s is a %s, not an image manifest", md.Digest, md.MediaType)
	}
	raw, err := blob(md)
	if err != nil {
		return nil, err
	}
	var m oci.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %v", md.Digest, err)
	}
	config, err := blob(m.Config)
	if err != nil {
		return nil, err
	}
	out := image.Manifest{Raw: raw, Digest: md.Digest, MediaType: md.MediaType, Config: config, ConfigDigest: m.Config.Digest, ConfigMediaType: m.Config.MediaType}
	for _, l := range m.Layers {
		b, err := blob(l)
		if err != nil {
			return nil, err
		}
		out.Layers = append(out.Layers, image.Layer{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size, Open: bytesOpener(b)})
	}
	return &image.Image{Manifests: []image.Manifest{out}}, nil
}

func bytesOpener(b []byte) image.Opener {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// Artifact is what a plugin made: a manifest and the blobs it names.
type Artifact struct {
	ArtifactType string
	Config       oci.Descriptor // with Data; nil Data: the empty config {}
	Layers       []Blob
	Annotations  map[string]string
	Subject      oci.Descriptor
}

// Blob is one layer of an artifact.
type Blob struct {
	MediaType   oci.MediaType
	Data        []byte
	Annotations map[string]string
}

// Manifest is the artifact's manifest and its blobs (config first).
func (a Artifact) Manifest() ([]byte, [][]byte, error) {
	cfg := a.Config
	if cfg.MediaType == "" {
		cfg.MediaType = oci.MediaTypeEmpty
	}
	cfgBytes := cfg.Data
	if cfgBytes == nil {
		cfgBytes = []byte("{}")
	}
	config := oci.DescriptorFor(cfg.MediaType, cfgBytes)
	if cfg.MediaType == oci.MediaTypeEmpty {
		config.Data = cfgBytes
	}
	blobs := [][]byte{cfgBytes}
	m := oci.Manifest{SchemaVersion: 2, MediaType: oci.MediaTypeManifest, ArtifactType: a.ArtifactType, Config: config, Layers: []oci.Descriptor{}, Annotations: a.Annotations}
	for _, l := range a.Layers {
		d := oci.DescriptorFor(l.MediaType, l.Data)
		d.Annotations = l.Annotations
		m.Layers = append(m.Layers, d)
		blobs = append(blobs, l.Data)
	}
	m.Subject = &oci.Descriptor{MediaType: a.Subject.MediaType, Digest: a.Subject.Digest, Size: a.Subject.Size}
	raw, err := oci.Marshal(m)
	return raw, blobs, err
}

// WriteLayout writes a manifest and its blobs as the OCI image layout tar
// img reads. The same input gives the same tar: entries in a fixed order,
// zero times.
func WriteLayout(w io.Writer, raw []byte, blobs [][]byte) error {
	var doc oci.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	md := oci.DescriptorFor(oci.MediaTypeManifest, raw)
	md.ArtifactType = doc.ArtifactType
	idx, err := oci.Marshal(oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: []oci.Descriptor{md}})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	file := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := file("index.json", idx); err != nil {
		return err
	}
	written := map[string]bool{}
	for _, b := range append([][]byte{raw}, blobs...) {
		d := oci.Digest(b)
		if written[d] {
			continue
		}
		written[d] = true
		if err := file("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b); err != nil {
			return err
		}
	}
	return tw.Close()
}
