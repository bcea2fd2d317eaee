package image

import (
	"encoding/json"
	"fmt"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// AsDocker returns img in Docker's v2 schema 2 format, as rules_docker's
// container_push(format = "Docker") pushed it: the same config and layer
// bytes under Docker's media types, so only the manifests (and an index,
// which becomes a manifest list) and their digests change. Annotations
// have no place in that format and are dropped.
func AsDocker(img *Image) (*Image, error) {
	out := &Image{}
	entries := map[string]oci.Descriptor{} // old manifest digest -> new descriptor
	for _, m := range img.Manifests {
		d, err := dockerManifest(m)
		if err != nil {
			return nil, err
		}
		entries[m.Digest] = oci.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(d.Raw))}
		out.Manifests = append(out.Manifests, d)
	}
	if !img.IsIndex() {
		return out, nil
	}
	var idx oci.Index
	if err := json.Unmarshal(img.Index, &idx); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	list := oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeDockerManifestList}
	for _, e := range idx.Manifests {
		d, ok := entries[e.Digest]
		if !ok {
			return nil, fmt.Errorf("index lists %s, which is not among its images", e.Digest)
		}
		d.Platform = e.Platform
		list.Manifests = append(list.Manifests, d)
	}
	raw, err := oci.Marshal(list)
	if err != nil {
		return nil, err
	}
	out.Index, out.IndexDigest = raw, oci.Digest(raw)
	return out, nil
}

func dockerManifest(m Manifest) (Manifest, error) {
	var doc oci.Manifest
	if err := json.Unmarshal(m.Raw, &doc); err != nil {
		return m, fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	if doc.ArtifactType != "" || (doc.Config.MediaType != oci.MediaTypeConfig && doc.Config.MediaType != oci.MediaTypeDockerConfig) {
		return m, fmt.Errorf("manifest %s is an artifact (config %s); Docker's format holds images only: push it as OCI", m.Digest, doc.Config.MediaType)
	}
	docker := oci.Manifest{
		SchemaVersion: 2,
		MediaType:     oci.MediaTypeDockerManifest,
		Config:        oci.Descriptor{MediaType: oci.MediaTypeDockerConfig, Digest: doc.Config.Digest, Size: doc.Config.Size},
	}
	if len(doc.Layers) != len(m.Layers) {
		return m, fmt.Errorf("manifest %s lists %d layers, the image has %d", m.Digest, len(doc.Layers), len(m.Layers))
	}
	layers := make([]Layer, len(m.Layers))
	for i, l := range doc.Layers {
		mt, ok := compress.DockerMediaType(l.MediaType)
		if !ok {
			return m, fmt.Errorf("layer %s is %s, which Docker's format has no type for: push as OCI, or build the layer with compress = \"gzip\"", l.Digest, l.MediaType)
		}
		docker.Layers = append(docker.Layers, oci.Descriptor{MediaType: mt, Digest: l.Digest, Size: l.Size, URLs: l.URLs})
		layers[i] = m.Layers[i]
		layers[i].MediaType = mt
	}
	raw, err := oci.Marshal(docker)
	if err != nil {
		return m, err
	}
	m.Raw, m.Digest, m.MediaType = raw, oci.Digest(raw), oci.MediaTypeDockerManifest
	m.ConfigMediaType = oci.MediaTypeDockerConfig
	m.Layers = layers
	return m, nil
}
