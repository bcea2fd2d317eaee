package base

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/rules-img/rules_img/pkg/layer"
)

// LibrariesOptions are system_libraries' attributes, with the library
// directory already chosen by the rule (it knows the target platform).
type LibrariesOptions struct {
	Libs         []string `json:"libs"`
	Libdir       string   `json:"libdir"`
	LdsoConf     bool     `json:"ldso_conf"`
	LdsoConfPath string   `json:"ldso_conf_path"`
	Mode         string   `json:"mode"`
	// LdsoCache is a file to write /etc/ld.so.cache to (an output of the
	// action); empty writes none.
	LdsoCache       string                    `json:"ldso_cache"`
	DefaultMetadata *layer.Metadata           `json:"default_metadata"`
	FileMetadata    map[string]layer.Metadata `json:"file_metadata"`
}

// soname reads a shared object's DT_SONAME ("" when it has none) and its
// ld.so.cache flags.
func soname(p string) (string, int32, error) {
	f, err := elf.Open(p)
	var format *elf.FormatError
	switch {
	case errors.As(err, &format):
		return "", 0, fmt.Errorf("%s is not an ELF file; libs takes shared objects (.so files)", p)
	case err != nil:
		return "", 0, err
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return "", 0, fmt.Errorf("%s is an ELF %s, not a shared object; libs takes .so files", p, f.Type)
	}
	flags, _ := abiFlags(f)
	names, err := f.DynString(elf.DT_SONAME)
	if err != nil {
		return "", 0, fmt.Errorf("%s: reading its SONAME: %w", p, err)
	}
	if len(names) == 0 {
		return "", flags, nil
	}
	return names[0], flags, nil
}

// SystemLibraries places shared libraries in the library directory, each
// with the link named after its SONAME (the name the dynamic linker looks
// up), and an ld.so.conf.d fragment naming the directory.
func SystemLibraries(raw []byte, _ Filler) ([]layer.Entry, error) {
	var o LibrariesOptions
	if err := decode(raw, &o); err != nil {
		return nil, err
	}
	mode, err := parseMode("mode", o.Mode, 0o755)
	if err != nil {
		return nil, err
	}
	if err := checkPath("libdir", o.Libdir); err != nil {
		return nil, err
	}
	var out []layer.Entry
	placed := map[string]string{} // image path -> source
	place := func(e layer.Entry, src string) error {
		prev, ok := placed[e.Path]
		if !ok {
			placed[e.Path] = src
			out = append(out, e)
			return nil
		}
		if prev == src {
			return nil
		}
		a, errA := os.ReadFile(prev)
		b, errB := os.ReadFile(src)
		if errA == nil && errB == nil && bytes.Equal(a, b) {
			return nil
		}
		return fmt.Errorf("libs: %s and %s would both be %s; keep one", prev, src, e.Path)
	}
	var cache []cacheEntry
	for _, lib := range o.Libs {
		so, flags, err := soname(lib)
		if err != nil {
			return nil, err
		}
		if o.LdsoCache != "" {
			if flags == 0 {
				return nil, fmt.Errorf("ldso_cache: %s is for a machine ld.so.cache has no entry kind for; set ldso_cache = False", lib)
			}
			name := so
			if name == "" {
				name = path.Base(lib)
			}
			cache = append(cache, cacheEntry{key: name, value: path.Join(o.Libdir, name), flags: flags})
		}
		dest := path.Join(o.Libdir, path.Base(lib))
		e := layer.Entry{Path: dest, Type: layer.TypeFile, Source: lib, Metadata: metadata(mode, 0, 0)}
		if m := o.DefaultMetadata; m != nil {
			overlay(e.Metadata, *m)
		}
		if m, ok := o.FileMetadata[dest]; ok {
			overlay(e.Metadata, m)
		}
		if err := place(e, lib); err != nil {
			return nil, err
		}
		if so != "" && so != path.Base(lib) {
			if err := place(symlink(path.Join(o.Libdir, so), path.Base(lib)), "SONAME of "+lib); err != nil {
				return nil, err
			}
		}
	}
	for p := range o.FileMetadata {
		if _, ok := placed[p]; !ok {
			return nil, fmt.Errorf("file_metadata: %s is no library this rule places (they go to %s)", p, o.Libdir)
		}
	}
	if o.LdsoCache != "" {
		if err := os.WriteFile(o.LdsoCache, ldCache(dedupCache(cache)), 0o644); err != nil {
			return nil, err
		}
		out = append(out, layer.Entry{Path: "/etc/ld.so.cache", Type: layer.TypeFile, Source: o.LdsoCache, Metadata: metadata(0o644, 0, 0)})
	}
	if o.LdsoConf {
		if err := checkPath("ldso_conf_path", o.LdsoConfPath); err != nil {
			return nil, err
		}
		out = append(out, file(o.LdsoConfPath, o.Libdir+"\n", 0o644))
	}
	return out, nil
}

// dedupCache keeps one entry per name (a library listed twice is fine).
func dedupCache(es []cacheEntry) []cacheEntry {
	seen := map[string]bool{}
	var out []cacheEntry
	for _, e := range es {
		if !seen[e.key] {
			seen[e.key] = true
			out = append(out, e)
		}
	}
	return out
}

// overlay sets the fields m gives.
func overlay(dst *layer.Metadata, m layer.Metadata) {
	if m.Mode != nil {
		dst.Mode = m.Mode
	}
	if m.UID != nil {
		dst.UID = m.UID
	}
	if m.GID != nil {
		dst.GID = m.GID
	}
	if m.Uname != nil {
		dst.Uname = m.Uname
	}
	if m.Gname != nil {
		dst.Gname = m.Gname
	}
	if m.Mtime != nil {
		dst.Mtime = m.Mtime
	}
}
