// Package layer writes OCI image layers: a deterministic tar built from a
// Spec (or taken from an existing tar), compressed, with its digest, size and
// diffID computed in the same streaming pass.
package layer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Entry types.
const (
	TypeFile    = "file"
	TypeTree    = "tree"
	TypeSymlink = "symlink"
	TypeDir     = "dir"
	// TypeEmpty is an empty regular file with no source, such as the
	// __init__.py files a runfiles tree holds empty (empty_filenames).
	TypeEmpty = "empty"
)

// Spec describes one layer. It is written as JSON by the Bazel rule.
type Spec struct {
	// Target is the Bazel label, used only to make errors point at the rule.
	Target                  string              `json:"target"`
	CreateParentDirectories bool                `json:"create_parent_directories"`
	DefaultMetadata         Metadata            `json:"default_metadata"`
	FileMetadata            map[string]Metadata `json:"file_metadata"`
	Entries                 []Entry             `json:"entries"`
	// PrioritizedFiles are laid out first in an eStargz layer, in this
	// order, before its prefetch landmark (BuildEStargz; Build ignores them).
	PrioritizedFiles []string `json:"prioritized_files,omitempty"`
}

// Entry is one thing placed in the layer.
type Entry struct {
	Path   string `json:"path"`             // absolute path in the image
	Type   string `json:"type"`             // file, tree, symlink or dir
	Source string `json:"source,omitempty"` // file on disk (file) or directory on disk (tree)
	Target string `json:"target,omitempty"` // link target (symlink)
	// Content is a file's bytes, for files an img action generated (the
	// base image rules' /etc/passwd) rather than read from a source.
	Content *string `json:"content,omitempty"`
	// Executable gives a file entry mode 0755 instead of 0644. The rule
	// decides it in analysis: the mode of a file on disk is not an input of
	// the action (a remote executor stages every input executable), so it
	// never reaches the layer. Files inside trees are never executable by
	// default.
	Executable bool `json:"executable,omitempty"`
	// Metadata applies to this entry and, for a tree, to everything in it
	// (its mode only to the tree's regular files: rules_pkg gives a
	// pkg_files of a directory output mode 0644, and its directories must
	// stay traversable).
	// file_metadata for a path still wins; default_metadata yields to it.
	Metadata *Metadata `json:"metadata,omitempty"`
}

// Metadata overrides tar header fields. Every field is optional; nil means
// "inherit" (file_metadata > default_metadata > built-in defaults).
type Metadata struct {
	Mode  *string `json:"mode,omitempty"` // octal, e.g. "0755"
	UID   *int64  `json:"uid,omitempty"`
	GID   *int64  `json:"gid,omitempty"`
	Uname *string `json:"uname,omitempty"`
	Gname *string `json:"gname,omitempty"`
	// Mtime is an RFC 3339 string or integer Unix seconds. It is kept raw so
	// errors can name the path it belongs to.
	Mtime      json.RawMessage   `json:"mtime,omitempty"`
	PAXRecords map[string]string `json:"pax_records,omitempty"`
}

// ParseSpec decodes a spec. Unknown fields are errors so a misspelled key in
// the rule cannot silently produce a different layer. ParseSpec only checks
// syntax; Write and Build validate the contents (check, then plan).
func ParseSpec(r io.Reader) (*Spec, error) {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	var s Spec
	if err := d.Decode(&s); err != nil {
		if s.Target != "" {
			return nil, fmt.Errorf("%s: bad layer spec: %w", s.Target, err)
		}
		return nil, fmt.Errorf("bad layer spec: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("%s: bad layer spec: trailing data after the JSON object", s.name())
	}
	return &s, nil
}

func (s *Spec) name() string {
	if s.Target == "" {
		return "layer"
	}
	return s.Target
}

func (s *Spec) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{s.name()}, args...)...)
}

// attrs are the resolved header fields of one tar entry.
type attrs struct {
	mode         int64
	uid, gid     int
	uname, gname string
	mtime        time.Time
	pax          map[string]string
}

// key identifies attrs for hardlink deduplication: a hardlink shares its
// target's inode, so only entries with equal attrs may be merged.
func (a *attrs) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%o\x00%d\x00%d\x00%s\x00%s\x00%d", a.mode, a.uid, a.gid, a.uname, a.gname, a.mtime.Unix())
	for _, k := range slices.Sorted(maps.Keys(a.pax)) {
		fmt.Fprintf(&b, "\x00%s=%s", k, a.pax[k])
	}
	return b.String()
}

// meta is a validated Metadata.
type meta struct {
	mode         *int64
	uid, gid     *int
	uname, gname *string
	mtime        *time.Time
	pax          map[string]string
}

// checked is a Spec with every field validated: what can be checked without
// the file system is checked before plan reads it.
type checked struct {
	def      meta
	fileMeta map[string]meta // by path without the leading "/"
	entries  []checkedEntry
}

// checkedEntry is an Entry whose path, fields and metadata are valid.
type checkedEntry struct {
	Entry
	rel   string // path without the leading "/"
	where string // "entries[i] (path)", for errors
	meta  *meta  // the entry's own metadata, if it has any
}

// check validates everything the spec says about itself, in one pass.
func (s *Spec) check() (*checked, error) {
	def, err := s.parseMeta("default_metadata", s.DefaultMetadata)
	if err != nil {
		return nil, err
	}
	c := &checked{def: def, fileMeta: make(map[string]meta, len(s.FileMetadata))}
	for p, m := range s.FileMetadata {
		rel, err := checkPath(p)
		if err == nil && rel == "" {
			err = errors.New("the root \"/\" is not a tar entry")
		}
		if err != nil {
			return nil, s.errorf("file_metadata key: %v", err)
		}
		if c.fileMeta[rel], err = s.parseMeta(fmt.Sprintf("file_metadata[%q]", p), m); err != nil {
			return nil, err
		}
	}
	for i, e := range s.Entries {
		ce, err := s.checkEntry(i, e)
		if err != nil {
			return nil, err
		}
		c.entries = append(c.entries, ce)
	}
	return c, nil
}

func (s *Spec) checkEntry(i int, e Entry) (checkedEntry, error) {
	rel, err := checkPath(e.Path)
	if err != nil {
		return checkedEntry{}, s.errorf("entries[%d]: %v", i, err)
	}
	if rel == "" && e.Type != TypeTree {
		return checkedEntry{}, s.errorf("entries[%d]: path \"/\" is only allowed for type %q; give the %s a name", i, TypeTree, e.Type)
	}
	ce := checkedEntry{Entry: e, rel: rel, where: fmt.Sprintf("entries[%d] (%s)", i, e.Path)}
	if e.Metadata != nil {
		em, err := s.parseMeta(ce.where+" metadata", *e.Metadata)
		if err != nil {
			return checkedEntry{}, err
		}
		ce.meta = &em
	}
	bad := func(format string, args ...any) (checkedEntry, error) {
		return checkedEntry{}, s.errorf("%s: "+format, append([]any{ce.where}, args...)...)
	}
	switch e.Type {
	case TypeFile, TypeTree:
		if e.Content != nil {
			if e.Type == TypeTree || e.Source != "" || e.Target != "" {
				return bad("only a file entry without source or target takes content")
			}
			break
		}
		switch {
		case e.Source == "":
			return bad("%s entry has no source; set source", e.Type)
		case e.Target != "":
			return bad("%s entry has a target; only symlinks take a target", e.Type)
		case e.Executable && e.Type == TypeTree:
			return bad("a tree entry cannot be executable; give its executable files a mode with file_metadata")
		}
	case TypeSymlink:
		switch {
		case e.Content != nil:
			return bad("symlink has content; symlinks take only a target")
		case e.Target == "":
			return bad("symlink without target; set target")
		case e.Source != "" || e.Executable:
			return bad("symlink has a source or is marked executable; symlinks take only a target")
		case strings.ContainsRune(e.Target, 0):
			return bad("symlink target contains NUL")
		}
	case TypeEmpty:
		if e.Source != "" || e.Target != "" || e.Content != nil {
			return bad("empty entry takes no source, target or content")
		}
	case TypeDir:
		if e.Source != "" || e.Target != "" || e.Executable || e.Content != nil {
			return bad("dir entry takes no source, target, content or executable; use type %q to copy a directory", TypeTree)
		}
	default:
		return bad("unknown entry type %q; use %q, %q, %q, %q or %q", e.Type, TypeFile, TypeTree, TypeSymlink, TypeDir, TypeEmpty)
	}
	return ce, nil
}

// reservedPAX are keys archive/tar derives from header fields; it would
// silently drop them, so they are rejected instead.
var reservedPAX = []string{"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime"}

func (s *Spec) parseMeta(where string, m Metadata) (meta, error) {
	var out meta
	if m.Mode != nil {
		v, err := strconv.ParseUint(*m.Mode, 8, 32)
		if err != nil || v > 0o7777 {
			return out, s.errorf("%s: bad mode %q; use an octal string from \"0000\" to \"7777\", like \"0755\"", where, *m.Mode)
		}
		mode := int64(v)
		out.mode = &mode
	}
	for _, f := range []struct {
		name string
		in   *int64
		out  **int
	}{{"uid", m.UID, &out.uid}, {"gid", m.GID, &out.gid}} {
		if f.in == nil {
			continue
		}
		if *f.in < 0 || *f.in > 1<<31-1 {
			return out, s.errorf("%s: bad %s %d; use a number from 0 to 2147483647", where, f.name, *f.in)
		}
		v := int(*f.in)
		*f.out = &v
	}
	out.uname, out.gname = m.Uname, m.Gname
	for _, n := range []*string{m.Uname, m.Gname} {
		if n != nil && strings.ContainsRune(*n, 0) {
			return out, s.errorf("%s: user or group name %q contains NUL; remove it", where, *n)
		}
	}
	if len(m.Mtime) > 0 && !bytes.Equal(m.Mtime, []byte("null")) {
		t, err := parseMtime(m.Mtime)
		if err != nil {
			return out, s.errorf("%s: bad mtime %s: %v; use an RFC 3339 string like \"2024-01-02T15:04:05Z\" or integer Unix seconds", where, m.Mtime, err)
		}
		out.mtime = &t
	}
	for k, v := range m.PAXRecords {
		switch {
		case k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0):
			return out, s.errorf("%s: bad pax_records entry %q=%q; keys must be non-empty without '=' or NUL, values without NUL", where, k, v)
		case slices.Contains(reservedPAX, k) || strings.HasPrefix(k, "GNU.sparse."):
			return out, s.errorf("%s: pax_records key %q is reserved; set the corresponding metadata field instead", where, k)
		}
	}
	out.pax = m.PAXRecords
	return out, nil
}

func parseMtime(raw json.RawMessage) (time.Time, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, err
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, err
		}
		// Tar stores whole seconds; truncating keeps sub-second input from
		// forcing PAX headers.
		return t.Truncate(time.Second).UTC(), nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a string or integer")
	}
	return time.Unix(n, 0).UTC(), nil
}

// checkPath validates an absolute image path and returns it relative, without
// the leading "/". "/" itself yields "".
func checkPath(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("path is empty; use an absolute path like \"/app/file\"")
	case !strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("path %q is not absolute; start it with \"/\"", p)
	case strings.ContainsRune(p, 0):
		return "", fmt.Errorf("path %q contains NUL", p)
	case p == "/":
		return "", nil
	}
	rel := p[1:]
	for _, c := range strings.Split(rel, "/") {
		switch c {
		case "", ".", "..":
			return "", fmt.Errorf("path %q has an empty, \".\" or \"..\" component; write it normalized, without \"//\", \".\", \"..\" or a trailing \"/\"", p)
		}
	}
	return rel, nil
}
