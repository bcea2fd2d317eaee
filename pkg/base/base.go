// Package base writes what bespoke base images are made of: the directory
// skeleton, users and groups, /etc files, a CA trust store and shared
// libraries. Each generator returns a Description (layer entries with their
// metadata decided); img layer merges descriptions into one layer, so a
// base image's pieces are written once, by the layer action.
package base

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/layer"
)

// Description is what one content rule contributes to a base layer.
type Description struct {
	// Target is the rule's label, named by merge errors.
	Target  string        `json:"target"`
	Entries []layer.Entry `json:"entries"`
}

// ReadDescription reads a description img base wrote.
func ReadDescription(p string) (Description, error) {
	var d Description
	b, err := os.ReadFile(p)
	if err != nil {
		return d, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("%s: not a base image description: %w", p, err)
	}
	return d, nil
}

// WriteDescription writes d atomically.
func WriteDescription(p string, d Description) error {
	if d.Entries == nil {
		d.Entries = []layer.Entry{}
	}
	return atomicfile.WriteJSON(p, d)
}

// kind groups entry types by what they are in the file system.
func kind(t string) string {
	switch t {
	case layer.TypeDir, layer.TypeTree:
		return "directory"
	case layer.TypeSymlink:
		return "symlink"
	}
	return "file"
}

// Merge merges descriptions in order: for a path several describe, the last
// wins. A path described as two different kinds (a directory and a symlink),
// or an entry underneath something that is not a directory, is an error
// naming both rules: that is a mistake in the rules, not an override.
// Missing parent directories are added, 0755 and owned by root.
func Merge(descs []Description) ([]layer.Entry, error) {
	type owned struct {
		entry  layer.Entry
		target string
	}
	byPath := map[string]*owned{}
	var order []string
	for _, d := range descs {
		for _, e := range d.Entries {
			prev, ok := byPath[e.Path]
			if ok && kind(prev.entry.Type) != kind(e.Type) {
				return nil, fmt.Errorf("conflicting base metadata for %q: %s describes it as %s, %s as %s; make them agree (usr_merged must be the same on linux_skeleton and system_libraries)",
					strings.TrimPrefix(e.Path, "/"), prev.target, kind(prev.entry.Type), d.Target, kind(e.Type))
			}
			if !ok {
				order = append(order, e.Path)
			}
			byPath[e.Path] = &owned{e, d.Target}
		}
	}
	out := make([]layer.Entry, 0, len(order))
	for _, p := range order {
		o := byPath[p]
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			parent, ok := byPath[d]
			switch {
			case !ok:
				// A base layer is whole: no directory is left for the
				// runtime to invent.
				byPath[d] = &owned{dir(d, 0o755), "parent directory"}
				out = append(out, byPath[d].entry)
			case kind(parent.entry.Type) != "directory":
				return nil, fmt.Errorf("%s places %q underneath %q, which %s describes as a %s rather than a directory; move one of them",
					o.target, strings.TrimPrefix(p, "/"), strings.TrimPrefix(d, "/"), parent.target, kind(parent.entry.Type))
			}
		}
		out = append(out, o.entry)
	}
	return out, nil
}

// Filler fills {{.KEY}} templates in attribute values.
type Filler func(string) (string, error)

// decode reads a generator's options strictly: a misspelled key from the
// rule must not silently change the image.
func decode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad options: %w", err)
	}
	return nil
}

// Pair is one key and value from an ordered Starlark dict.
type Pair struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func metadata(mode int64, uid, gid int64) *layer.Metadata {
	m := fmt.Sprintf("%04o", mode)
	return &layer.Metadata{Mode: &m, UID: &uid, GID: &gid}
}

func dir(p string, mode int64) layer.Entry {
	return layer.Entry{Path: p, Type: layer.TypeDir, Metadata: metadata(mode, 0, 0)}
}

func symlink(p, target string) layer.Entry {
	return layer.Entry{Path: p, Type: layer.TypeSymlink, Target: target, Metadata: metadata(0o777, 0, 0)}
}

func file(p, content string, mode int64) layer.Entry {
	return layer.Entry{Path: p, Type: layer.TypeFile, Content: &content, Metadata: metadata(mode, 0, 0)}
}

// parseMode reads an attribute's octal mode; "" means def.
func parseMode(attr, s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("%s: bad mode %q; use an octal string like \"0644\"", attr, s)
	}
	return int64(v), nil
}

// fileAttrs checks what every generator of files takes: its mode attribute
// (def when empty) and the image paths it writes to, by attribute name.
func fileAttrs(mode string, def int64, paths map[string]string) (int64, error) {
	m, err := parseMode("mode", mode, def)
	if err != nil {
		return 0, err
	}
	for _, attr := range sortedKeys(paths) {
		if err := checkPath(attr, paths[attr]); err != nil {
			return 0, err
		}
	}
	return m, nil
}

// checkPath checks an image path from an attribute.
func checkPath(attr, p string) error {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" {
		return fmt.Errorf("%s: %q is not a clean absolute path; write it like \"/etc/hosts\"", attr, p)
	}
	return nil
}

// readFiles reads the files an attribute names, for the generators that
// merge existing files in.
func readFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	return out, nil
}

// Generators are img base's verbs: each turns a rule's options into
// entries.
var Generators = map[string]func(raw []byte, fill Filler) ([]layer.Entry, error){
	"skeleton":         Skeleton,
	"passwd":           Passwd,
	"hosts":            Hosts,
	"environment":      Environment,
	"release":          Release,
	"trust-store":      TrustStore,
	"system-libraries": SystemLibraries,
}

// Verbs lists Generators' names, sorted.
func Verbs() []string {
	var v []string
	for k := range Generators {
		v = append(v, k)
	}
	sort.Strings(v)
	return v
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
