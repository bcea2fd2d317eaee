package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// item is one tar entry to write.
type item struct {
	name   string // relative path without leading or trailing "/"
	kind   byte   // tar.TypeDir, TypeReg, TypeSymlink or TypeLink
	src    string // file to copy (TypeReg)
	size   int64  // bytes of src (TypeReg)
	exec   bool   // the spec marks the file executable (TypeReg)
	link   string // symlink target, or hardlink target name (TypeLink)
	origin string // where the entry came from, for errors
	auto   bool   // parent directory created by create_parent_directories
	entry  *meta  // the spec entry's own metadata, if it has one
	// entryMode: the entry's mode applies (not to a tree's directories)
	entryMode bool
	ahead     bool   // its content is read ahead (readAhead)
	data      []byte // content held in memory (the eStargz landmark), not read from src
	attrs     attrs
}

// plan checks spec (check), then reads the file system and returns the
// entries in tar order. It reads no file contents: duplicates are found
// while writing.
func plan(s *Spec) ([]*item, error) {
	c, err := s.check()
	if err != nil {
		return nil, err
	}
	byName := map[string]*item{}
	add := func(it *item) error {
		if prev, ok := byName[it.name]; ok {
			return s.errorf("two sources for /%s: %s and %s; remove one from srcs", it.name, prev.origin, it.origin)
		}
		byName[it.name] = it
		return nil
	}
	for _, e := range c.entries {
		if err := s.addEntry(e, add); err != nil {
			return nil, err
		}
	}

	// Every ancestor must be a directory, whether or not we create it.
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	for _, n := range names {
		for dir := path.Dir(n); dir != "."; dir = path.Dir(dir) {
			parent, ok := byName[dir]
			switch {
			case ok && parent.kind != tar.TypeDir:
				return nil, s.errorf("/%s is a %s (%s) but /%s (%s) needs it to be a directory; move one of them", dir, kindName(parent.kind), parent.origin, n, byName[n].origin)
			case ok:
				continue
			case s.CreateParentDirectories:
				byName[dir] = &item{name: dir, kind: tar.TypeDir, origin: "parent directory", auto: true}
			}
		}
	}

	for rel := range c.fileMeta {
		if _, ok := byName[rel]; !ok {
			return nil, s.errorf("file_metadata for /%s matches no entry in the layer; fix the path or remove it", rel)
		}
	}

	items := make([]*item, 0, len(byName))
	for _, it := range byName {
		it.attrs = resolve(it, c.def, c.fileMeta[it.name])
		items = append(items, it)
	}
	// Byte order of the path; a parent always sorts before its children
	// because it is a prefix of them.
	slices.SortFunc(items, func(a, b *item) int { return strings.Compare(a.name, b.name) })
	return items, nil
}

func kindName(k byte) string {
	switch k {
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	}
	return "file"
}

// addEntry adds the items of one checked entry, reading the file system for
// files and trees.
func (s *Spec) addEntry(e checkedEntry, add func(*item) error) error {
	rel := e.rel
	if e.meta != nil {
		addPlain := add
		add = func(it *item) error {
			it.entry = e.meta
			it.entryMode = e.Type != TypeTree || it.kind == tar.TypeReg
			return addPlain(it)
		}
	}
	switch e.Type {
	case TypeSymlink:
		return add(&item{name: rel, kind: tar.TypeSymlink, link: e.Target, origin: "symlink to " + e.Target})
	case TypeEmpty:
		return add(&item{name: rel, kind: tar.TypeReg, exec: e.Executable, origin: "empty file"})
	case TypeDir:
		return add(&item{name: rel, kind: tar.TypeDir, origin: "dir entry"})
	}
	if e.Content != nil {
		data := []byte(*e.Content)
		return add(&item{name: rel, kind: tar.TypeReg, size: int64(len(data)), data: data, exec: e.Executable, origin: "generated file"})
	}

	// Stat follows symlinks: Bazel sandboxes stage inputs as symlinks.
	fi, err := os.Stat(e.Source)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.errorf("%s: source %s does not exist; check that it is built and listed in srcs", e.where, e.Source)
		}
		return s.errorf("%s: %v", e.where, err)
	}
	if e.Type == TypeFile {
		switch {
		case fi.IsDir():
			return s.errorf("%s: source %s is a directory; use type %q for directories", e.where, e.Source, TypeTree)
		case !fi.Mode().IsRegular():
			return s.errorf("%s: source %s is not a regular file (%s)", e.where, e.Source, fi.Mode().Type())
		}
		return add(&item{name: rel, kind: tar.TypeReg, src: e.Source, size: fi.Size(), exec: e.Executable, origin: e.Source})
	}
	if !fi.IsDir() {
		return s.errorf("%s: tree source %s is not a directory; use type %q for single files", e.where, e.Source, TypeFile)
	}
	if rel != "" {
		if err := add(&item{name: rel, kind: tar.TypeDir, origin: e.Source}); err != nil {
			return err
		}
	}
	return s.walkTree(e.Source, "", rel, add)
}

// maxTreeDepth stops a symlink loop inside a tree from recursing forever.
const maxTreeDepth = 128

// walkTree adds the contents of the directory root/sub under the layer path
// dest/sub.
//
// Symlinks inside the tree are followed and stored as what they point to.
// How a tree reaches an action decides whether its links are still links: a
// sandbox re-points every entry at the execroot, and Bazel's disk and remote
// caches hand links back as plain files. Only the content is the same every
// way, so only the content goes into a reproducible layer. Links that belong
// in the image are declared with image_layer's symlinks attribute.
func (s *Spec) walkTree(root, sub, dest string, add func(*item) error) error {
	dir := filepath.Join(root, filepath.FromSlash(sub))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return s.errorf("reading tree %s: %v", root, err)
	}
	for _, de := range ents {
		relSub := path.Join(sub, de.Name())
		name := path.Join(dest, relSub)
		full := filepath.Join(dir, de.Name())
		origin := fmt.Sprintf("%s (in tree %s)", full, root)
		mode := de.Type()
		if mode&fs.ModeSymlink != 0 {
			fi, err := os.Stat(full)
			if err != nil {
				return s.errorf("%s: symlink that points nowhere: %v; make it point inside the tree or drop it", origin, err)
			}
			mode = fi.Mode().Type()
			if mode.IsDir() && strings.Count(relSub, "/") >= maxTreeDepth {
				return s.errorf("%s: directories nest deeper than %d levels; is there a symlink loop?", origin, maxTreeDepth)
			}
		}
		switch {
		case mode.IsDir():
			if err := add(&item{name: name, kind: tar.TypeDir, origin: origin}); err != nil {
				return err
			}
			if err := s.walkTree(root, relSub, dest, add); err != nil {
				return err
			}
		case mode.IsRegular():
			fi, err := os.Stat(full)
			if err != nil {
				return s.errorf("%s: %v", origin, err)
			}
			// Mode bits on disk are not an input (see Entry.Executable).
			if err := add(&item{name: name, kind: tar.TypeReg, src: full, size: fi.Size(), origin: origin}); err != nil {
				return err
			}
		default:
			return s.errorf("%s is a %s, which a layer cannot hold; remove it from the tree", origin, mode)
		}
	}
	return nil
}

// resolve applies the metadata precedence file_metadata > the entry's own
// metadata > default_metadata > built-in defaults. default_metadata's mode
// applies only to regular files: a file mode like 0644 would make
// directories untraversable and means nothing for symlinks. Parent directories created by
// create_parent_directories ignore default_metadata entirely (they are
// root-owned 0755 at the epoch) unless file_metadata names them.
func resolve(it *item, def, own meta) attrs {
	a := attrs{mtime: time.Unix(0, 0).UTC()}
	switch {
	case it.kind == tar.TypeDir || it.exec:
		a.mode = 0o755
	case it.kind == tar.TypeSymlink:
		a.mode = 0o777
	default:
		a.mode = 0o644
	}
	apply := func(m meta, withMode bool) {
		if m.mode != nil && withMode {
			a.mode = *m.mode
		}
		if m.uid != nil {
			a.uid = *m.uid
		}
		if m.gid != nil {
			a.gid = *m.gid
		}
		if m.uname != nil {
			a.uname = *m.uname
		}
		if m.gname != nil {
			a.gname = *m.gname
		}
		if m.mtime != nil {
			a.mtime = *m.mtime
		}
		for k, v := range m.pax {
			if a.pax == nil {
				a.pax = map[string]string{}
			}
			a.pax[k] = v
		}
	}
	if !it.auto {
		apply(def, it.kind == tar.TypeReg)
	}
	if it.entry != nil {
		apply(*it.entry, it.entryMode)
	}
	apply(own, true)
	return a
}
