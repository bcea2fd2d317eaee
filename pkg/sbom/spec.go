package sbom

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Spec is what image_sbom's action reads: the image's files, by path.
type Spec struct {
	Name       string         `json:"name"`       // the image's target
	Descriptor string         `json:"descriptor"` // of the image
	Manifests  []ManifestSpec `json:"manifests"`
	Bases      []Base         `json:"bases,omitempty"`
}

// ManifestSpec is one platform's image: its config and its own layers
// (a pulled base's are left out).
type ManifestSpec struct {
	Config string      `json:"config"`
	Layers []LayerSpec `json:"layers"`
}

// LayerSpec is one layer's metadata and blob.
type LayerSpec struct {
	Metadata string `json:"metadata"`
	Blob     string `json:"blob"`
}

// Write reads spec, scans the layers and writes the documents asked for
// ("" skips one); both appear or neither.
func Write(specPath, spdxOut, cyclonedxOut string) error {
	var spec Spec
	if err := readJSON(specPath, &spec); err != nil {
		return err
	}
	desc, err := oci.ReadDescriptor(spec.Descriptor)
	if err != nil {
		return err
	}
	subject := Subject{Name: spec.Name, Digest: desc.Digest, Bases: spec.Bases, Tool: "rules_img", Created: "1970-01-01T00:00:00Z"}
	// The platforms of an index are scanned as one file system each; their
	// packages are listed together.
	inv := &Inventory{}
	for i, m := range spec.Manifests {
		var cfg struct {
			Created string `json:"created"`
		}
		if err := readJSON(m.Config, &cfg); err != nil {
			return err
		}
		if i == 0 && cfg.Created != "" {
			// The image's own time keeps the document reproducible.
			subject.Created = cfg.Created
		}
		var layers []Layer
		for _, l := range m.Layers {
			md, err := oci.ReadLayerMetadata(l.Metadata)
			if err != nil {
				return err
			}
			layers = append(layers, Layer{MediaType: md.MediaType, Path: l.Blob})
		}
		one, err := Scan(layers)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.Name, err)
		}
		inv = merge(inv, one)
	}
	var set atomicfile.Set
	defer set.Abort()
	for _, out := range []struct {
		path  string
		write func(Subject, *Inventory) ([]byte, error)
	}{{spdxOut, SPDX}, {cyclonedxOut, CycloneDX}} {
		if out.path == "" {
			continue
		}
		b, err := out.write(subject, inv)
		if err != nil {
			return err
		}
		if err := set.WriteBytes(out.path, b); err != nil {
			return err
		}
	}
	return set.Commit()
}

// merge lists each package and file once across platforms.
func merge(a, b *Inventory) *Inventory {
	if len(a.Files) == 0 && len(a.Packages) == 0 {
		return b
	}
	seenP := map[string]bool{}
	for _, p := range a.Packages {
		seenP[p.PURL+"\x00"+p.Location] = true
	}
	for _, p := range b.Packages {
		if !seenP[p.PURL+"\x00"+p.Location] {
			a.Packages = append(a.Packages, p)
		}
	}
	seenF := map[string]bool{}
	for _, f := range a.Files {
		seenF[f.Path+"\x00"+f.SHA256] = true
	}
	for _, f := range b.Files {
		if !seenF[f.Path+"\x00"+f.SHA256] {
			a.Files = append(a.Files, f)
		}
	}
	if a.Distro == "" {
		a.Distro = b.Distro
	}
	return a
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}
