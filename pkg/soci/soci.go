// Package soci writes SOCI index manifests, version 2: an OCI image
// manifest whose layers are the ztocs of an image's gzip layers, found by
// soci-snapshotter through the image manifest's annotation (and the image
// index's entry), not through the referrers API.
package soci

import (
	"fmt"
	"os"
	"strconv"

	"github.com/rules-img/rules_img/pkg/oci"
)

// Media types and annotations of SOCI v2.
const (
	ArtifactType oci.MediaType = "application/vnd.amazon.soci.index.v2+json"
	ZtocType     oci.MediaType = "application/octet-stream"

	// On the image manifest: its SOCI index.
	AnnotationIndexDigest = "com.amazon.soci.index-digest"
	// On the index entry of a SOCI index: the image it serves.
	AnnotationImageManifestDigest = "com.amazon.soci.image-manifest-digest"

	annotationLayerMediaType = "com.amazon.soci.image-layer-mediaType"
	annotationLayerDigest    = "com.amazon.soci.image-layer-digest"
	annotationSpanSize       = "com.amazon.soci.span-size"
	annotationBuildTool      = "com.amazon.soci.build-tool-identifier"
)

// Config is the config blob of every SOCI index: the empty JSON object.
var Config = []byte("{}")

// Layer is an image layer and the file holding its ztoc; an empty file
// means the layer gets none (too small, or not gzip).
type Layer struct {
	Metadata oci.LayerMetadata
	Ztoc     string
}

// Index is a SOCI index manifest and its descriptor.
type Index struct {
	Manifest   []byte
	Descriptor oci.Descriptor
}

// Build writes the SOCI index of layers, in their order. ok is false when
// no layer has a ztoc: then the image gets no SOCI index.
func Build(layers []Layer, span int64, tool string) (Index, bool, error) {
	m := oci.Manifest{
		SchemaVersion: 2,
		MediaType:     oci.MediaTypeManifest,
		Config:        oci.DescriptorFor(ArtifactType, Config),
		Layers:        []oci.Descriptor{},
		Annotations:   map[string]string{annotationBuildTool: tool},
	}
	for _, l := range layers {
		b, err := os.ReadFile(l.Ztoc)
		if err != nil {
			return Index{}, false, err
		}
		if len(b) == 0 {
			continue
		}
		d := oci.DescriptorFor(ZtocType, b)
		d.Annotations = map[string]string{
			annotationLayerMediaType: string(l.Metadata.MediaType),
			annotationLayerDigest:    l.Metadata.Digest,
			annotationSpanSize:       strconv.FormatInt(span, 10),
		}
		m.Layers = append(m.Layers, d)
	}
	if len(m.Layers) == 0 {
		return Index{}, false, nil
	}
	raw, err := oci.Marshal(m)
	if err != nil {
		return Index{}, false, err
	}
	d := oci.DescriptorFor(oci.MediaTypeManifest, raw)
	d.ArtifactType = string(ArtifactType)
	return Index{Manifest: raw, Descriptor: d}, true, nil
}

// Entry is the index entry of a SOCI index beside the image manifest it
// serves, on the image's platform.
func Entry(index oci.Descriptor, image oci.Descriptor) (oci.Descriptor, error) {
	if image.Platform == nil {
		return oci.Descriptor{}, fmt.Errorf("image manifest %s has no platform for its SOCI index entry", image.Digest)
	}
	return oci.Descriptor{
		MediaType:    oci.MediaTypeManifest,
		Digest:       index.Digest,
		Size:         index.Size,
		Annotations:  map[string]string{AnnotationImageManifestDigest: image.Digest},
		ArtifactType: string(ArtifactType),
		Platform:     image.Platform,
	}, nil
}
