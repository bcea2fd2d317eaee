// Package oci is rules_img's vocabulary of the OCI image spec: descriptors,
// manifests, indexes and configs, media types and what kind of thing each
// names, digests, platforms and how runtimes match them, and the layer
// metadata that actions pass each other. Building documents is pkg/build's
// work, writing layouts pkg/layout's.
package oci

import (
	"encoding/json"
	"fmt"
	"os"
)

// Names from the OCI image and layout specs.
const (
	AnnotationRefName      = "org.opencontainers.image.ref.name"
	ImageLayoutVersion     = "1.0.0"
	ImageLayoutFileContent = `{"imageLayoutVersion":"1.0.0"}`
)

// LayerMetadata is what a layer action writes beside its blob. Everything
// downstream of a layer (manifest, push, load specs) reads this, never the blob.
type LayerMetadata struct {
	MediaType MediaType `json:"mediaType"`
	Digest    string    `json:"digest"` // sha256 of the blob as stored
	Size      int64     `json:"size"`   // bytes of the blob as stored
	DiffID    string    `json:"diffID"` // sha256 of the uncompressed tar
	// CASDigest is the blob's key in Bazel's remote cache when Bazel hashes
	// with another function than SHA-256 (--digest_function=SHA1:
	// "sha1:<hex>"); empty, the key is Digest.
	CASDigest   string            `json:"casDigest,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Source is set for layers of a pulled base image: where to fetch the
	// blob when bytes are needed and it was not downloaded.
	Source *BlobSource `json:"source,omitempty"`
}

// BlobSource is the registry repository a blob can be fetched from.
type BlobSource struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
}

// MetadataFix is for metadata written by a rule other than ours: a user's
// rule that returns LayerInfo.
const MetadataFix = "a rule that returns LayerInfo must write the JSON img layer writes (mediaType, digest, size, diffID)"

// ReadLayerMetadata reads and checks a metadata file written by `img layer`.
func ReadLayerMetadata(path string) (LayerMetadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return LayerMetadata{}, err
	}
	return ParseLayerMetadata(b, path)
}

// ParseLayerMetadata checks the bytes of a metadata file; name is for
// messages.
func ParseLayerMetadata(b []byte, name string) (LayerMetadata, error) {
	var m LayerMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: not layer metadata: %w: %s", name, err, MetadataFix)
	}
	if m.MediaType == "" || m.Digest == "" || m.DiffID == "" || m.Size <= 0 {
		return m, fmt.Errorf("%s: layer metadata lacks mediaType, digest, diffID or size: %s", name, MetadataFix)
	}
	return m, nil
}
