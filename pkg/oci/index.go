package oci

import (
	"fmt"
	"maps"
)

// IndexEntry is one manifest of an index and where its descriptor came
// from, for messages.
type IndexEntry struct {
	Source     string
	Descriptor Descriptor
}

// BuildIndex returns the bytes of an image index listing the entries in the
// given order, and the index's descriptor (without a platform). Two entries
// for the same platform are an error: a runtime would pick one silently.
func BuildIndex(entries []IndexEntry, annotations map[string]string) ([]byte, Descriptor, error) {
	idx := Index{
		SchemaVersion: 2,
		MediaType:     MediaTypeIndex,
		Manifests:     make([]Descriptor, 0, len(entries)),
		Annotations:   maps.Clone(annotations),
	}
	for i, e := range entries {
		d := e.Descriptor
		switch d.MediaType {
		case MediaTypeManifest, MediaTypeIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		default:
			return nil, Descriptor{}, fmt.Errorf("%s: media type %q is not a manifest or index", e.Source, d.MediaType)
		}
		if err := CheckDigest(d.Digest); err != nil {
			return nil, Descriptor{}, fmt.Errorf("%s: %w", e.Source, err)
		}
		if d.Platform != nil {
			for _, prev := range entries[:i] {
				if prev.Descriptor.Platform != nil && samePlatform(*prev.Descriptor.Platform, *d.Platform) {
					return nil, Descriptor{}, fmt.Errorf("%s (%s) and %s (%s) are both for platform %s",
						prev.Source, prev.Descriptor.Digest, e.Source, d.Digest, d.Platform)
				}
			}
		}
		idx.Manifests = append(idx.Manifests, d)
	}
	b, err := marshal(idx)
	if err != nil {
		return nil, Descriptor{}, err
	}
	return b, DescriptorFor(MediaTypeIndex, b), nil
}

// IndexFiles names the inputs and outputs of `img index`.
type IndexFiles struct {
	Target      string   // for messages
	Manifests   []string // descriptor files, in order
	Annotations map[string]string
	// Outputs.
	Index, Descriptor string
}

// WriteIndex builds an index from descriptor files and writes it and its
// descriptor; both or neither.
func WriteIndex(f IndexFiles) error {
	who := f.Target
	if who == "" {
		who = "index"
	}
	var entries []IndexEntry
	for _, p := range f.Manifests {
		d, err := ReadDescriptor(p)
		if err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		entries = append(entries, IndexEntry{Source: p, Descriptor: d})
	}
	b, desc, err := BuildIndex(entries, f.Annotations)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	db, err := marshal(desc)
	if err != nil {
		return err
	}
	if err := writeAll(outputFile{f.Index, b}, outputFile{f.Descriptor, db}); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	return nil
}
