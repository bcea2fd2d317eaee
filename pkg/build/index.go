package build

import (
	"fmt"
	"maps"
	"os"

	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/soci"
)

// IndexEntry is one manifest of an index and where its descriptor came
// from, for messages. An artifact (a SOCI index) shares its image's
// platform and is listed after the images, so a runtime picks the image.
type IndexEntry struct {
	Source     string
	Descriptor oci.Descriptor
	Artifact   bool
}

// Index returns the bytes of an image index listing the entries in the
// given order, and the index's descriptor (without a platform). Two entries
// for the same platform are an error: a runtime would pick one silently.
func Index(entries []IndexEntry, annotations map[string]string) ([]byte, oci.Descriptor, error) {
	idx := oci.Index{
		SchemaVersion: 2,
		MediaType:     oci.MediaTypeIndex,
		Manifests:     make([]oci.Descriptor, 0, len(entries)),
		Annotations:   maps.Clone(annotations),
	}
	for i, e := range entries {
		d := e.Descriptor
		switch d.MediaType {
		case oci.MediaTypeManifest, oci.MediaTypeIndex, oci.MediaTypeDockerManifest, oci.MediaTypeDockerManifestList:
		default:
			return nil, oci.Descriptor{}, fmt.Errorf("%s: media type %q is not a manifest or index", e.Source, d.MediaType)
		}
		if err := oci.CheckDigest(d.Digest); err != nil {
			return nil, oci.Descriptor{}, fmt.Errorf("%s: %w", e.Source, err)
		}
		if d.Platform != nil && !e.Artifact {
			for _, prev := range entries[:i] {
				if !prev.Artifact && prev.Descriptor.Platform != nil && prev.Descriptor.Platform.Same(*d.Platform) {
					return nil, oci.Descriptor{}, fmt.Errorf("%s (%s) and %s (%s) are both for platform %s",
						prev.Source, prev.Descriptor.Digest, e.Source, d.Digest, d.Platform)
				}
			}
		}
		if !e.Artifact {
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	for _, e := range entries {
		if e.Artifact {
			idx.Manifests = append(idx.Manifests, e.Descriptor)
		}
	}
	b, err := oci.Marshal(idx)
	if err != nil {
		return nil, oci.Descriptor{}, err
	}
	return b, oci.DescriptorFor(oci.MediaTypeIndex, b), nil
}

// IndexFiles names the inputs and outputs of `img index`.
type IndexFiles struct {
	Target      string   // for messages
	Manifests   []string // descriptor files, in order
	Annotations map[string]string
	// Vars (build settings) and Status (workspace status files, when
	// stamping) fill {{.KEY}} templates in the annotations' values.
	Vars   map[string]string
	Status []string
	// AnnotationFiles hold more annotations (pkg/kvfile), which Annotations override.
	AnnotationFiles []string
	// SociIndexes maps a manifest's descriptor file to its SOCI index's
	// (img soci-index; an empty file: none), for an entry after the images.
	SociIndexes map[string]string
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
		d, err := oci.ReadDescriptor(p)
		if err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		entries = append(entries, IndexEntry{Source: p, Descriptor: d})
	}
	for _, e := range entries {
		p, ok := f.SociIndexes[e.Source]
		if !ok {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("%s: SOCI index: %w", who, err)
		}
		if len(b) == 0 {
			continue
		}
		d, err := oci.ParseDescriptor(b, p)
		if err != nil {
			return fmt.Errorf("%s: SOCI index: %w", who, err)
		}
		entry, err := soci.Entry(d, e.Descriptor)
		if err != nil {
			return fmt.Errorf("%s: %w", who, err)
		}
		entries = append(entries, IndexEntry{Source: p, Descriptor: entry, Artifact: true})
	}
	annotations, err := fillValues("annotations", f.Annotations, f.Vars, f.Status)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	if annotations, err = MergeFiles("annotations_file", f.AnnotationFiles, annotations); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	b, desc, err := Index(entries, annotations)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	db, err := oci.Marshal(desc)
	if err != nil {
		return err
	}
	if err := writeAll(outputFile{f.Index, b}, outputFile{f.Descriptor, db}); err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	return nil
}
