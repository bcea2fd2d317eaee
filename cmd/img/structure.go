package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rules-img/rules_img/pkg/fromlayout"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/structure"
)

func init() {
	subcommands["structure-test"] = subcommand{"run container-structure-test configs against an image without a runtime (image_structure_test)", structureMain}
}

// errTestsFailed makes img exit 1 after the failures were printed.
var errTestsFailed = errors.New("some structure tests failed")

func structureMain(args []string) error {
	fs := newSubcommandFlags("structure-test")
	root := fs.String("root", ".", "directory the image spec's paths are relative to")
	imageSpec := fs.String("image", "", "JSON image spec (the image part of a deploy spec)")
	layout := fs.String("layout", "", "an OCI image layout directory, instead of --image")
	target := fs.String("target", "", "the Bazel target, for messages")
	var configs repeatedFlag
	fs.Var(&configs, "config", "container-structure-test config file, YAML or JSON (repeatable)")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if len(configs) == 0 || (*imageSpec == "") == (*layout == "") {
		return fmt.Errorf("%s: give --config and one of --image or --layout", *target)
	}
	var named []structure.Named
	for _, c := range configs {
		cfg, err := structure.ReadConfig(c)
		if err != nil {
			return fmt.Errorf("%s: %w", *target, err)
		}
		named = append(named, structure.Named{Name: filepath.Base(c), Config: cfg})
	}
	var images []structure.Image
	var err error
	if *layout != "" {
		images, err = layoutImages(*layout)
	} else {
		images, err = specImages(*root, *imageSpec)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", *target, err)
	}
	ok, err := structure.Run(os.Stdout, named, images)
	if err != nil {
		return fmt.Errorf("%s: %w", *target, err)
	}
	if !ok {
		return fmt.Errorf("%s: %w", *target, errTestsFailed)
	}
	return nil
}

func layoutImages(dir string) ([]structure.Image, error) {
	stored, err := fromlayout.List(dir)
	if err != nil {
		return nil, err
	}
	var out []structure.Image
	for _, s := range stored {
		img := structure.Image{Platform: s.Platform.String(), Config: s.Config}
		for _, l := range s.Layers {
			img.Layers = append(img.Layers, structure.Layer{MediaType: l.Descriptor.MediaType, Digest: l.Descriptor.Digest, Blob: l.Blob})
		}
		out = append(out, img)
	}
	return out, nil
}

// specImages reads the image part of a deploy spec (img/private/deploy.bzl).
func specImages(root, path string) ([]structure.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec struct {
		Manifests []struct {
			Config     string `json:"config"`
			Descriptor string `json:"descriptor"`
			Layers     []struct {
				Metadata string `json:"metadata"`
				Blob     string `json:"blob"`
			} `json:"layers"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	at := func(p string) string { return filepath.Join(root, p) }
	var out []structure.Image
	for _, m := range spec.Manifests {
		d, err := oci.ReadDescriptor(at(m.Descriptor))
		if err != nil {
			return nil, err
		}
		img := structure.Image{Config: at(m.Config)}
		if d.Platform != nil {
			img.Platform = d.Platform.String()
		}
		for _, l := range m.Layers {
			md, err := oci.ReadLayerMetadata(at(l.Metadata))
			if err != nil {
				return nil, err
			}
			layer := structure.Layer{MediaType: md.MediaType, Digest: md.Digest}
			if l.Blob != "" {
				layer.Blob = at(l.Blob)
			}
			img.Layers = append(img.Layers, layer)
		}
		out = append(out, img)
	}
	return out, nil
}
