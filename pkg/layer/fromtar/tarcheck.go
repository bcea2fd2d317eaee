package fromtar

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"
)

// TarRules says what FromTar lets into a layer besides regular files,
// directories, symlinks and hardlinks to earlier files. The zero value is the
// strict default.
type TarRules struct {
	// AllowDuplicates keeps a path that occurs twice (not two directories);
	// the later entry wins when a runtime unpacks the layer.
	AllowDuplicates bool
	// AllowDevices keeps character and block devices and FIFOs.
	AllowDevices bool
	// TraversalOnly passes a vendor's tar through as it is: only entries
	// that escape the layer root are refused.
	TraversalOnly bool
}

// EntryError is a tar entry FromTar refuses; Fix says what the user can do.
type EntryError struct {
	Entry   string
	Problem string
	Fix     string
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("entry %q %s: %s", e.Entry, e.Problem, e.Fix)
}

const (
	fixTraversal = `rebuild the tar without it (validation = "traversal_only" still refuses this)`
	fixAsIs      = `rebuild the tar, or set validation = "traversal_only" to pass a vendor's tar through as it is`
)

// tarChecker validates the entries of one archive, in order, and gives each
// its canonical name: relative, no "./" or "//", no "." or ".." elements,
// a trailing "/" only on directories that had one.
type tarChecker struct {
	rules    TarRules
	seen     map[string]byte // canonical name without trailing "/" -> type
	symlinks map[string]bool
}

func newTarChecker(r TarRules) *tarChecker {
	return &tarChecker{rules: r, seen: map[string]byte{}, symlinks: map[string]bool{}}
}

// check returns the entry's canonical name and link name. drop means the
// entry names the layer root ("./"), which a layer does not carry.
func (c *tarChecker) check(h *tar.Header) (name, link string, drop bool, err error) {
	strict := !c.rules.TraversalOnly
	kind := h.Typeflag
	switch kind {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if strict && !c.rules.AllowDevices {
			return "", "", false, &EntryError{h.Name, "is a " + typeName(kind),
				"remove it from the tar, or set allow_device_files = True (unpacking it then needs privileges)"}
		}
	case tar.TypeXGlobalHeader:
		// git archive writes one with a "comment" record; records that
		// rename later entries are refused, as some extractors apply them.
		for k := range h.PAXRecords {
			if k == "path" || k == "linkpath" || (strict && k != "comment") {
				return "", "", false, &EntryError{"pax_global_header", fmt.Sprintf("is a global PAX header with a %q record, which changes later entries for some extractors", k), fixTraversal}
			}
		}
		return h.Name, "", false, nil
	default:
		if strict {
			return "", "", false, &EntryError{h.Name, fmt.Sprintf("has tar type %q, which a layer cannot carry", string(kind)), fixAsIs}
		}
	}

	key, err := canonicalPath(h.Name)
	if err != nil {
		return "", "", false, &EntryError{h.Name, err.Error(), fixTraversal}
	}
	if key == "" {
		if kind != tar.TypeDir {
			return "", "", false, &EntryError{h.Name, "names the layer root but is a " + typeName(kind), fixTraversal}
		}
		return "", "", true, nil
	}
	name = key
	if kind == tar.TypeDir && strings.HasSuffix(h.Name, "/") {
		name += "/"
	}
	// A path below a symlink of this archive would be written wherever the
	// symlink points: outside the root, for "link -> /etc".
	for i := strings.IndexByte(key, '/'); i >= 0; i = nextSlash(key, i) {
		if c.symlinks[key[:i]] {
			return "", "", false, &EntryError{h.Name, fmt.Sprintf("lies below %q, a symlink earlier in the tar, so it would be written where the link points", key[:i]), fixTraversal}
		}
	}

	link = h.Linkname
	if kind == tar.TypeLink {
		target, err := canonicalPath(h.Linkname)
		if err != nil {
			return "", "", false, &EntryError{h.Name, fmt.Sprintf("is a hardlink to %q, which %s", h.Linkname, err), fixTraversal}
		}
		link = target
		if t, ok := c.seen[target]; strict && (!ok || !isFile(t)) {
			return "", "", false, &EntryError{h.Name, fmt.Sprintf("is a hardlink to %q, which is not a file earlier in the tar", h.Linkname),
				`put the target before the link, or set validation = "traversal_only" to pass a vendor's tar through as it is`}
		}
	}

	if prev, ok := c.seen[key]; ok && strict && !c.rules.AllowDuplicates && !(prev == tar.TypeDir && kind == tar.TypeDir) {
		return "", "", false, &EntryError{h.Name, "occurs twice in the tar, and which one a runtime keeps differs",
			"remove one, or set allow_duplicate_paths = True (the later entry wins)"}
	}
	c.seen[key] = kind
	if kind == tar.TypeSymlink {
		c.symlinks[key] = true
	} else {
		delete(c.symlinks, key)
	}
	return name, link, false, nil
}

func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// canonicalPath strips leading "/" and "./" and empty or "." elements, and
// refuses ".." anywhere: the layer root is "".
func canonicalPath(p string) (string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return "", errors.New("contains a NUL byte")
	}
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, e := range parts {
		switch e {
		case "", ".":
		case "..":
			return "", errors.New("escapes the layer root ('..')")
		default:
			out = append(out, e)
		}
	}
	return strings.Join(out, "/"), nil
}

func isFile(t byte) bool {
	return t == tar.TypeReg || t == tar.TypeRegA || t == tar.TypeGNUSparse || t == tar.TypeLink
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "FIFO"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	}
	return "file"
}

// isSparse reports whether h's data is stored in a sparse format, which
// archive/tar can read but not write.
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
