package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Optimize rewrites an image's manifest for new layer blobs (image_optimize
// recompresses them). The config stays byte for byte unless a layer's
// diffID changed, when only rootfs.diff_ids is replaced; everything else in
// it, including fields this package does not model, is kept.
func Optimize(manifest, config []byte, layers []oci.LayerMetadata) (Output, error) {
	var m oci.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return Output{}, fmt.Errorf("source manifest: %w", err)
	}
	if !m.MediaType.IsManifest() && m.MediaType != "" {
		return Output{}, fmt.Errorf("source manifest has media type %s; only a single-platform manifest can be optimized", m.MediaType)
	}
	if len(layers) != len(m.Layers) {
		return Output{}, fmt.Errorf("%d new layers for a manifest of %d", len(layers), len(m.Layers))
	}
	var cfg oci.ImageConfig
	if err := json.Unmarshal(config, &cfg); err != nil {
		return Output{}, fmt.Errorf("source config: %w", err)
	}
	if oci.Digest(config) != m.Config.Digest {
		return Output{}, errors.New("source config is not the one the manifest references")
	}
	diffIDs := make([]string, len(layers))
	descs := make([]oci.Descriptor, len(layers))
	for i, l := range layers {
		d, err := layerDescriptor(i, l, true)
		if err != nil {
			return Output{}, err
		}
		diffIDs[i] = l.DiffID
		// The source's annotations stay; the new layer's own win.
		if ann := m.Layers[i].Annotations; len(ann) > 0 {
			d.Annotations = maps.Clone(ann)
			maps.Copy(d.Annotations, l.Annotations)
		}
		d.MediaType = compress.ToOCI(d.MediaType)
		descs[i] = d
	}
	if !slices.Equal(diffIDs, cfg.RootFS.DiffIDs) {
		var err error
		if config, err = withDiffIDs(config, diffIDs); err != nil {
			return Output{}, err
		}
	}
	configType := m.Config.MediaType
	if configType == oci.MediaTypeDockerConfig || configType == "" {
		configType = oci.MediaTypeConfig
	}
	return output(m.ArtifactType, oci.DescriptorFor(configType, config), config, descs, m.Annotations, cfg.Platform())
}

// withDiffIDs replaces rootfs.diff_ids in a config and keeps its other
// fields as they are.
func withDiffIDs(config []byte, diffIDs []string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(config, &doc); err != nil {
		return nil, fmt.Errorf("source config: %w", err)
	}
	var rootfs map[string]json.RawMessage
	if err := json.Unmarshal(doc["rootfs"], &rootfs); err != nil || rootfs == nil {
		rootfs = map[string]json.RawMessage{"type": json.RawMessage(`"layers"`)}
	}
	ids, err := json.Marshal(diffIDs)
	if err != nil {
		return nil, err
	}
	rootfs["diff_ids"] = ids
	if doc["rootfs"], err = json.Marshal(rootfs); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// OptimizeFiles names the inputs and outputs of `img optimize`.
type OptimizeFiles struct {
	SourceManifest, SourceConfig string
	Layers                       []string // metadata of the new layers, in order
	Target                       string   // for errors
	Manifest, Config, Descriptor string
}

// WriteOptimized runs Optimize on files and writes all three outputs or
// none.
func WriteOptimized(f OptimizeFiles) error {
	fail := func(err error) error { return fmt.Errorf("%s: %w", f.Target, err) }
	manifest, err := os.ReadFile(f.SourceManifest)
	if err != nil {
		return fail(err)
	}
	config, err := os.ReadFile(f.SourceConfig)
	if err != nil {
		return fail(err)
	}
	var layers []oci.LayerMetadata
	for _, p := range f.Layers {
		l, err := oci.ReadLayerMetadata(p)
		if err != nil {
			return fail(err)
		}
		layers = append(layers, l)
	}
	img, err := Optimize(manifest, config, layers)
	if err != nil {
		return fail(err)
	}
	desc, err := oci.Marshal(img.Descriptor)
	if err != nil {
		return fail(err)
	}
	return writeAll(
		outputFile{f.Config, img.Config},
		outputFile{f.Manifest, img.Manifest},
		outputFile{f.Descriptor, desc},
	)
}
