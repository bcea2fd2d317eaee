// Package flatten merges an image's layers into the one file system tar a
// container would see (rules_docker's container_flatten): whiteouts and
// opaque directories applied, each path from the highest layer that has it.
package flatten

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Layer is one layer blob on disk.
type Layer struct {
	MediaType oci.MediaType
	Path      string
}

// FromLayout returns the layers (bottom first) and the config path of the
// single image an OCI layout holds.
func FromLayout(dir string) ([]Layer, string, error) {
	var idx oci.Index
	if err := readJSON(filepath.Join(dir, "index.json"), &idx); err != nil {
		return nil, "", err
	}
	if len(idx.Manifests) != 1 {
		return nil, "", fmt.Errorf("%s holds %d manifests; flatten takes one image", dir, len(idx.Manifests))
	}
	root := idx.Manifests[0]
	if root.MediaType.IsIndex() {
		return nil, "", fmt.Errorf("%s is an index; flatten one platform's image", dir)
	}
	var m oci.Manifest
	if err := readJSON(blob(dir, root.Digest), &m); err != nil {
		return nil, "", err
	}
	var layers []Layer
	for _, l := range m.Layers {
		layers = append(layers, Layer{MediaType: l.MediaType, Path: blob(dir, l.Digest)})
	}
	return layers, blob(dir, m.Config.Digest), nil
}

func blob(dir, digest string) string {
	return filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
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

// state is what the layers above the one being read decided.
type state struct {
	settled map[string]byte // path -> type flag of the entry that won
	gone    []string        // whited-out paths
	opaque  []string        // directories whose lower contents are hidden
}

func (s *state) hidden(name string) bool {
	if _, ok := s.settled[name]; ok {
		return true
	}
	for _, g := range s.gone {
		if name == g || strings.HasPrefix(name, g+"/") {
			return true
		}
	}
	for _, d := range s.opaque {
		if strings.HasPrefix(name, d+"/") {
			return true
		}
	}
	// Below a path a higher layer made a file or a link: not reachable.
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if t, ok := s.settled[dir]; ok && t != tar.TypeDir {
			return true
		}
	}
	return false
}

// Write writes the merged file system of layers (bottom first) to w as one
// uncompressed tar: entries in layer order, lower layers first, so every
// directory precedes what it holds.
func Write(layers []Layer, w io.Writer) error {
	// Pass 1, top down: which entries of each layer survive.
	keep := make([]map[int]bool, len(layers))
	s := &state{settled: map[string]byte{}}
	for i := len(layers) - 1; i >= 0; i-- {
		keep[i] = map[int]bool{}
		var gone, opaque []string
		err := Each(layers[i], func(n int, h *tar.Header, _ io.Reader) error {
			name := clean(h.Name)
			dir, base := path.Split(name)
			dir = strings.TrimSuffix(dir, "/")
			switch {
			case base == ".wh..wh..opq":
				opaque = append(opaque, dir)
			case strings.HasPrefix(base, ".wh."):
				gone = append(gone, path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			case name == "" || s.hidden(name):
			default:
				keep[i][n] = true
				s.settled[name] = h.Typeflag
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
		// A layer's whiteouts and opaque markers hide what lies below it.
		s.gone, s.opaque = append(s.gone, gone...), append(s.opaque, opaque...)
	}

	// Pass 2, bottom up: write the survivors.
	tw := tar.NewWriter(w)
	for i, l := range layers {
		written := map[string]bool{}
		err := Each(l, func(n int, h *tar.Header, r io.Reader) error {
			if !keep[i][n] {
				return nil
			}
			name := clean(h.Name)
			if h.Typeflag == tar.TypeLink && !written[clean(h.Linkname)] {
				return fmt.Errorf("%s is a hardlink to %s, which a higher layer replaced: the flattened tar cannot keep the link", name, h.Linkname)
			}
			hdr := *h
			if hdr.Typeflag == tar.TypeDir {
				hdr.Name = name + "/"
			} else {
				hdr.Name = name
			}
			if err := tw.WriteHeader(&hdr); err != nil {
				return err
			}
			written[name] = true
			if h.Typeflag == tar.TypeReg {
				if _, err := io.Copy(tw, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	return tw.Close()
}

func clean(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

// Each calls fn for every entry of a layer blob, with its index,
// decompressing it as its media type says.
func Each(l Layer, fn func(int, *tar.Header, io.Reader) error) error {
	f, err := os.Open(l.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := compress.NewReader(f, compress.Of(l.MediaType))
	if err != nil {
		return err
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(n, h, tr); err != nil {
			return err
		}
	}
}
