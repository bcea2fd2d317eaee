package structure

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Image is one platform's image as the tests see it.
type Image struct {
	Platform string
	Config   string  // path of the image config JSON
	Layers   []Layer // bottom first
}

// Layer is a layer blob, or a layer whose bytes are not here (Blob "").
type Layer struct {
	MediaType oci.MediaType
	Digest    string
	Blob      string
}

// maxContent bounds what a content test reads of one file.
const maxContent = 64 << 20

// entry is what the image holds at a path.
type entry struct {
	hdr     *tar.Header // nil: nothing there
	content []byte      // for content tests, regular files (and hardlinks)
	// through is set when a parent of the path is a symlink: the path to
	// look up instead.
	through string
}

func clean(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	return name
}

// under reports whether p lies strictly inside dir.
func under(p, dir string) bool { return dir == "" || strings.HasPrefix(p, dir+"/") }

// layerReader opens a layer's tar stream.
func layerReader(l Layer) (*tar.Reader, func(), error) {
	f, err := os.Open(l.Blob)
	if err != nil {
		return nil, nil, err
	}
	r, err := compress.NewReader(f, compress.Of(l.MediaType))
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return tar.NewReader(r), func() { r.Close(); f.Close() }, nil
}

// lookup settles each path (with whether its content is needed) from the
// top layer down, reading no layer below the one that settles the last path.
func lookup(img Image, paths map[string]bool) (map[string]*entry, error) {
	out := map[string]*entry{}
	pending := map[string]bool{}
	for p, c := range paths {
		pending[p] = c
	}
	for i := len(img.Layers) - 1; i >= 0 && len(pending) > 0; i-- {
		l := img.Layers[i]
		if l.Blob == "" {
			var some []string
			for p := range pending {
				some = append(some, "/"+p)
			}
			return nil, fmt.Errorf("%s is not settled by the layers above layer %d (%s), whose bytes are not here (a base image pulled shallowly): pull that base eagerly or lazily to test it", strings.Join(some, ", "), i, l.Digest)
		}
		if err := scanLayer(l, pending, out); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
	}
	for p := range pending {
		out[p] = &entry{}
	}
	return out, nil
}

// scanLayer settles what it can of pending from one layer.
func scanLayer(l Layer, pending map[string]bool, out map[string]*entry) error {
	tr, done, err := layerReader(l)
	if err != nil {
		return err
	}
	defer done()
	var opaque []string
	links := map[string][]string{} // hardlink target -> paths whose content it is
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := clean(h.Name)
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			opaque = append(opaque, dir)
			continue
		case strings.HasPrefix(base, ".wh."):
			gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			for p := range pending {
				if p == gone || under(p, gone) {
					out[p] = &entry{}
					delete(pending, p)
				}
			}
			continue
		}
		for p, needContent := range pending {
			switch {
			case p == name:
				e := &entry{hdr: h}
				if needContent && h.Typeflag == tar.TypeReg {
					if e.content, err = readContent(tr, h.Size); err != nil {
						return err
					}
				}
				if needContent && h.Typeflag == tar.TypeLink {
					t := clean(h.Linkname)
					links[t] = append(links[t], p)
				}
				out[p] = e
				delete(pending, p)
			case under(p, name) && h.Typeflag == tar.TypeSymlink:
				// A parent is a symlink: look up the path through it.
				target := h.Linkname
				if !strings.HasPrefix(target, "/") {
					target = path.Join(path.Dir(name), target)
				}
				out[p] = &entry{through: clean(path.Join(target, strings.TrimPrefix(p, name+"/")))}
				delete(pending, p)
			case under(p, name) && h.Typeflag != tar.TypeDir:
				out[p] = &entry{} // a parent is a file here: nothing below it
				delete(pending, p)
			}
		}
	}
	for p := range pending {
		for _, d := range opaque {
			if under(p, d) {
				out[p] = &entry{}
				delete(pending, p)
				break
			}
		}
	}
	if len(links) > 0 {
		return linkContents(l, links, out)
	}
	return nil
}

// linkContents reads the content of hardlinked files: the target comes
// before the link in the tar, so a second pass reads it.
func linkContents(l Layer, links map[string][]string, out map[string]*entry) error {
	tr, done, err := layerReader(l)
	if err != nil {
		return err
	}
	defer done()
	for len(links) > 0 {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("hardlink to %s, which the layer does not hold", anyKey(links))
		}
		if err != nil {
			return err
		}
		paths, ok := links[clean(h.Name)]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := readContent(tr, h.Size)
		if err != nil {
			return err
		}
		for _, p := range paths {
			out[p].content = b
		}
		delete(links, clean(h.Name))
	}
	return nil
}

func anyKey(m map[string][]string) string {
	for k := range m {
		return "/" + k
	}
	return ""
}

func readContent(r io.Reader, size int64) ([]byte, error) {
	if size > maxContent {
		return nil, fmt.Errorf("file of %d bytes; content tests read at most %d", size, maxContent)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}
