// Package fromlayout turns images of an OCI image layout directory (written
// by skopeo, crane, rules_oci or any other tool) into the files rules_img's
// rules pass on: manifest, config, descriptor, and per layer its blob and
// metadata. The metadata comes from the layout's manifests and configs (the
// diffIDs from the config), so no layer is decompressed; blobs are copied
// once, checked against their digests as they are copied.
package fromlayout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/build"
	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Spec is what the conversion rules ask for; the rule writes it as JSON.
type Spec struct {
	Target string  `json:"target"` // Bazel label, for messages
	Layout string  `json:"layout"` // the layout directory
	Images []Image `json:"images"`
	// Index and IndexDescriptor are set for image_index_from_oci_layout.
	Index           string `json:"index,omitempty"`
	IndexDescriptor string `json:"index_descriptor,omitempty"`
}

// Image is one platform's image to take from the layout, with its outputs.
type Image struct {
	Platform   string  `json:"platform"` // os/arch[/variant]
	Manifest   string  `json:"manifest"`
	Config     string  `json:"config"`
	Descriptor string  `json:"descriptor"`
	Layers     []Layer `json:"layers"`
}

// Layer is one layer's expected media type and outputs.
type Layer struct {
	MediaType oci.MediaType `json:"media_type"`
	Metadata  string        `json:"metadata"`
	Blob      string        `json:"blob"`
}

// ReadSpec reads a Spec from a JSON file.
func ReadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// maxJSON bounds the manifests, indexes and configs read from a layout.
const maxJSON = 4 << 20

// layout is an opened layout directory.
type layout struct {
	dir string
	// The images reachable from index.json, in order, with the innermost
	// index that lists them.
	found []found
}

type found struct {
	desc   oci.Descriptor // the manifest's descriptor, platform filled in
	parent *oci.Index
	pdesc  *oci.Descriptor // the parent index's descriptor (nil: index.json)
}

func (l *layout) blobPath(d oci.Descriptor) (string, error) {
	if err := oci.CheckDigest(d.Digest); err != nil {
		return "", err
	}
	alg, hexSum, _ := strings.Cut(d.Digest, ":")
	return filepath.Join(l.dir, "blobs", alg, hexSum), nil
}

// readJSON reads a small blob, checks its digest and size and decodes it.
func (l *layout) readJSON(d oci.Descriptor, v any) ([]byte, error) {
	if d.Size > maxJSON {
		return nil, fmt.Errorf("%s is %d bytes; a manifest, index or config over %d bytes is not accepted", d.Digest, d.Size, maxJSON)
	}
	p, err := l.blobPath(d)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("blob %s is missing from the layout: %w", d.Digest, err)
	}
	if got := oci.Digest(b); got != d.Digest || int64(len(b)) != d.Size {
		return nil, fmt.Errorf("blob %s holds %d bytes with digest %s, not the %d bytes its descriptor names: the layout is corrupt", d.Digest, len(b), got, d.Size)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return b, nil
}

func open(dir string) (*layout, error) {
	b, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout (no oci-layout file): %w", dir, err)
	}
	var marker struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(b, &marker); err != nil || marker.Version != "1.0.0" {
		return nil, fmt.Errorf("%s/oci-layout: want imageLayoutVersion 1.0.0, got %q", dir, b)
	}
	b, err = os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI image layout: %w", dir, err)
	}
	var idx oci.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s/index.json: %w", dir, err)
	}
	l := &layout{dir: dir}
	if err := l.walk(&idx, nil, 0); err != nil {
		return nil, err
	}
	if len(l.found) == 0 {
		return nil, fmt.Errorf("%s holds no image manifest", dir)
	}
	return l, nil
}

func (l *layout) walk(idx *oci.Index, desc *oci.Descriptor, depth int) error {
	if depth > 4 {
		return errors.New("indexes nest deeper than 4 levels")
	}
	for _, d := range idx.Manifests {
		switch {
		case d.MediaType.IsIndex():
			var inner oci.Index
			if _, err := l.readJSON(d, &inner); err != nil {
				return err
			}
			if err := l.walk(&inner, &d, depth+1); err != nil {
				return err
			}
		case d.MediaType.IsManifest():
			if d.Platform == nil {
				// Single-image layouts often leave the platform out: the
				// config has it.
				var m oci.Manifest
				if _, err := l.readJSON(d, &m); err != nil {
					return err
				}
				var c oci.ImageConfig
				if _, err := l.readJSON(m.Config, &c); err != nil {
					return err
				}
				p := c.Platform()
				d.Platform = &p
			}
			l.found = append(l.found, found{desc: d, parent: idx, pdesc: desc})
		default:
			// Attestations, signatures and other artifacts are no images.
		}
	}
	return nil
}

// pick returns the image for platform p.
func (l *layout) pick(p oci.Platform) (found, error) {
	var have []string
	for _, f := range l.found {
		q := *f.desc.Platform
		if p.Matches(q) {
			return f, nil
		}
		have = append(have, q.String())
	}
	return found{}, fmt.Errorf("the layout has no image for %s; it has %s", p, strings.Join(slices.Compact(have), ", "))
}

// Convert writes every output the spec names, or none of them. Errors start
// with the spec's target and name the layout.
func Convert(s *Spec) error {
	if err := convert(s); err != nil {
		return fmt.Errorf("%s: OCI layout %s: %w", s.Target, s.Layout, err)
	}
	return nil
}

func convert(s *Spec) error {
	l, err := open(s.Layout)
	if err != nil {
		return err
	}
	var w writer
	defer w.Abort()
	var picked []found
	for _, im := range s.Images {
		p, err := oci.ParsePlatform(im.Platform)
		if err == nil {
			err = p.Check()
		}
		if err != nil {
			return err
		}
		f, err := l.pick(p)
		if err != nil {
			return err
		}
		picked = append(picked, f)
		if err := w.image(l, f.desc, im); err != nil {
			return fmt.Errorf("image for %s (%s): %w", im.Platform, f.desc.Digest, err)
		}
	}
	if s.Index != "" {
		b, d, err := index(l, picked)
		if err != nil {
			return err
		}
		if err := w.json(s.Index, b); err != nil {
			return err
		}
		db, err := json.Marshal(d)
		if err != nil {
			return err
		}
		if err := w.json(s.IndexDescriptor, db); err != nil {
			return err
		}
	}
	return w.Commit()
}

// index returns the layout's own index when it lists exactly the picked
// images, so the imported index keeps its digest; otherwise a new index of
// the picked images.
func index(l *layout, picked []found) ([]byte, oci.Descriptor, error) {
	parent, pdesc := picked[0].parent, picked[0].pdesc
	same := pdesc != nil
	var images int
	if same {
		for _, d := range parent.Manifests {
			if d.MediaType.IsManifest() {
				images++
			}
		}
	}
	same = same && images == len(parent.Manifests) && images == len(picked)
	for i, f := range picked {
		same = same && f.pdesc == pdesc && parent.Manifests[i].Digest == f.desc.Digest
	}
	if same {
		p, err := l.blobPath(*pdesc)
		if err != nil {
			return nil, oci.Descriptor{}, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, oci.Descriptor{}, err
		}
		d := *pdesc
		d.Annotations, d.Platform = nil, nil
		return b, d, nil
	}
	entries := make([]build.IndexEntry, len(picked))
	for i, f := range picked {
		entries[i] = build.IndexEntry{Source: f.desc.Platform.String(), Descriptor: f.desc}
	}
	return build.Index(entries, nil)
}

// writer stages outputs and renames them all at the end.
type writer struct{ atomicfile.Set }

func (w *writer) json(path string, b []byte) error { return w.WriteBytes(path, b) }

// copyBlob copies the blob d names to path, checking size and digest.
func (w *writer) copyBlob(l *layout, d oci.Descriptor, path string) error {
	src, err := l.blobPath(d)
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("layer %s is missing from the layout: %w", d.Digest, err)
	}
	defer in.Close()
	h := sha256.New()
	var n int64
	err = w.Write(path, func(out io.Writer) error {
		n, err = io.Copy(io.MultiWriter(out, h), in)
		return err
	})
	if err != nil {
		return fmt.Errorf("copying layer %s: %w", d.Digest, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d.Digest || n != d.Size {
		return fmt.Errorf("layer %s holds %d bytes with digest %s, not the %d bytes its descriptor names: the layout is corrupt", d.Digest, n, got, d.Size)
	}
	return nil
}

func (w *writer) image(l *layout, d oci.Descriptor, im Image) error {
	var m oci.Manifest
	mb, err := l.readJSON(d, &m)
	if err != nil {
		return err
	}
	var c oci.ImageConfig
	cb, err := l.readJSON(m.Config, &c)
	if err != nil {
		return err
	}
	if len(c.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("its config lists %d diff_ids for %d layers", len(c.RootFS.DiffIDs), len(m.Layers))
	}
	var have []string
	for _, ld := range m.Layers {
		have = append(have, fmt.Sprintf("%q", ld.MediaType))
	}
	mismatch := len(m.Layers) != len(im.Layers)
	for i := 0; !mismatch && i < len(m.Layers); i++ {
		mismatch = compress.ToOCI(m.Layers[i].MediaType) != compress.ToOCI(im.Layers[i].MediaType)
	}
	if mismatch {
		return fmt.Errorf("layers lists %d media types, but the image has %d layers: set layers = [%s]", len(im.Layers), len(m.Layers), strings.Join(have, ", "))
	}
	for i, ld := range m.Layers {
		if err := oci.CheckDigest(c.RootFS.DiffIDs[i]); err != nil {
			return fmt.Errorf("config diff_ids[%d]: %w", i, err)
		}
		md, err := json.Marshal(oci.LayerMetadata{MediaType: ld.MediaType, Digest: ld.Digest, Size: ld.Size, DiffID: c.RootFS.DiffIDs[i], Annotations: ld.Annotations})
		if err != nil {
			return err
		}
		if err := w.copyBlob(l, ld, im.Layers[i].Blob); err != nil {
			return err
		}
		if err := w.json(im.Layers[i].Metadata, md); err != nil {
			return err
		}
	}
	desc := oci.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Platform: d.Platform}
	db, err := json.Marshal(desc)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		b    []byte
	}{{im.Manifest, mb}, {im.Config, cb}, {im.Descriptor, db}} {
		if err := w.json(f.path, f.b); err != nil {
			return err
		}
	}
	return nil
}

// Stored is an image of a layout, as paths to its blobs.
type Stored struct {
	Platform oci.Platform
	Config   string // path of the config blob
	Layers   []StoredLayer
}

// StoredLayer is a layer's descriptor and the path of its blob.
type StoredLayer struct {
	Descriptor oci.Descriptor
	Blob       string
}

// List returns every image the layout holds (indexes nested in index.json
// followed), checking manifests and configs against their digests.
func List(dir string) ([]Stored, error) {
	l, err := open(dir)
	if err != nil {
		return nil, err
	}
	var out []Stored
	for _, f := range l.found {
		var m oci.Manifest
		if _, err := l.readJSON(f.desc, &m); err != nil {
			return nil, err
		}
		var c oci.ImageConfig
		if _, err := l.readJSON(m.Config, &c); err != nil {
			return nil, err
		}
		cp, _ := l.blobPath(m.Config)
		s := Stored{Platform: *f.desc.Platform, Config: cp}
		for _, d := range m.Layers {
			p, err := l.blobPath(d)
			if err != nil {
				return nil, err
			}
			s.Layers = append(s.Layers, StoredLayer{Descriptor: d, Blob: p})
		}
		out = append(out, s)
	}
	return out, nil
}
