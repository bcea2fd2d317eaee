// Package oci holds the small JSON documents rules_img passes between actions
// and writes the OCI documents (config, manifest, index, layout) from them.
package oci

import (
	"encoding/json"
	"fmt"
	"os"
)

// Media types from the OCI image spec.
const (
	MediaTypeLayer         = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeLayerGzip     = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeLayerZstd     = "application/vnd.oci.image.layer.v1.tar+zstd"
	MediaTypeConfig        = "application/vnd.oci.image.config.v1+json"
	MediaTypeManifest      = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeIndex         = "application/vnd.oci.image.index.v1+json"
	AnnotationRefName      = "org.opencontainers.image.ref.name"
	ImageLayoutVersion     = "1.0.0"
	ImageLayoutFileContent = `{"imageLayoutVersion":"1.0.0"}`
)

// LayerMetadata is what a layer action writes beside its blob. Everything
// downstream of a layer (manifest, push, load specs) reads this, never the blob.
type LayerMetadata struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"` // sha256 of the blob as stored
	Size        int64             `json:"size"`   // bytes of the blob as stored
	DiffID      string            `json:"diffID"` // sha256 of the uncompressed tar
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

// metadataFix is for metadata written by a rule other than ours: a user's
// rule that returns LayerInfo.
const metadataFix = "a rule that returns LayerInfo must write the JSON img layer writes (mediaType, digest, size, diffID)"

// ReadLayerMetadata reads and checks a metadata file written by `img layer`.
func ReadLayerMetadata(path string) (LayerMetadata, error) {
	var m LayerMetadata
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: not layer metadata: %w: %s", path, err, metadataFix)
	}
	if m.MediaType == "" || m.Digest == "" || m.DiffID == "" || m.Size <= 0 {
		return m, fmt.Errorf("%s: layer metadata lacks mediaType, digest, diffID or size: %s", path, metadataFix)
	}
	return m, nil
}

// WriteJSON writes v as JSON to path through a temporary file, so a failed
// action never leaves a half-written output behind.
func WriteJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, b)
}

// WriteFileAtomic writes data to path via a rename.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".partial"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
