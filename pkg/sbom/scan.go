// Package sbom lists what an image's own layers hold — Go modules of Go
// binaries, Debian packages, Python distributions, and every file with its
// checksums — and writes it as SPDX 2.3 and CycloneDX 1.6 JSON. A pulled
// base is named by its digest, never read: its layers stay in the registry.
package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/rules-img/rules_img/pkg/flatten"
)

// Layer is one layer blob on disk, bottom first.
type Layer = flatten.Layer

// File is a regular file of the merged file system.
type File struct {
	Path         string // without a leading slash
	Size         int64
	SHA1, SHA256 string // hex
	PackageFile  bool   // the file a package was read from
}

// Package is one thing a package manager or a build tool put there.
type Package struct {
	Type     string // golang, deb, pypi
	Name     string
	Version  string
	PURL     string
	Location string // the file it was found in
	// Arch, Source (deb) and GoVersion (golang) are extra facts.
	Arch, Source string
}

// Inventory is what the layers hold once merged, whiteouts applied.
type Inventory struct {
	Files    []File
	Packages []Package
	Distro   string // ID-VERSION_ID from etc/os-release, e.g. debian-12
}

// maxBinary bounds the executables read whole for their build info.
const maxBinary = 1 << 30

// state is the merged file system as the layers are applied.
type state struct {
	files     map[string]File
	packages  map[string][]Package // location -> packages read from it
	dirs      map[string]bool
	osRelease map[string]string
}

// Scan applies the layers bottom up and lists what remains.
func Scan(layers []Layer) (*Inventory, error) {
	s := &state{files: map[string]File{}, packages: map[string][]Package{}, dirs: map[string]bool{}}
	for i, l := range layers {
		if err := s.apply(l); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i+1, l.Path, err)
		}
	}
	inv := &Inventory{}
	if s.osRelease != nil && s.osRelease["ID"] != "" {
		inv.Distro = s.osRelease["ID"]
		if v := s.osRelease["VERSION_ID"]; v != "" {
			inv.Distro += "-" + v
		}
	}
	for _, f := range s.files {
		_, f.PackageFile = s.packages[f.Path]
		inv.Files = append(inv.Files, f)
	}
	sort.Slice(inv.Files, func(i, j int) bool { return inv.Files[i].Path < inv.Files[j].Path })
	for _, ps := range s.packages {
		for _, p := range ps {
			if p.Type == "deb" {
				p.PURL = debPURL(p, inv.Distro)
			}
			inv.Packages = append(inv.Packages, p)
		}
	}
	sort.Slice(inv.Packages, func(i, j int) bool {
		a, b := inv.Packages[i], inv.Packages[j]
		if a.PURL != b.PURL {
			return a.PURL < b.PURL
		}
		return a.Location < b.Location
	})
	return inv, nil
}

// remove drops name and, when it was a directory, everything under it.
func (s *state) remove(name string) {
	delete(s.files, name)
	delete(s.packages, name)
	if !s.dirs[name] {
		return
	}
	delete(s.dirs, name)
	s.removeUnder(name)
}

func (s *state) removeUnder(name string) {
	for p := range s.dirs {
		if strings.HasPrefix(p, name+"/") {
			delete(s.dirs, p)
		}
	}
	for p := range s.files {
		if strings.HasPrefix(p, name+"/") {
			delete(s.files, p)
		}
	}
	for p := range s.packages {
		if strings.HasPrefix(p, name+"/") {
			delete(s.packages, p)
		}
	}
}

func (s *state) apply(l Layer) error {
	return flatten.Each(l, func(_ int, h *tar.Header, r io.Reader) error {
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case name == "":
			return nil
		case base == ".wh..wh..opq":
			// Everything below dir from lower layers is hidden.
			s.removeUnder(dir)
			return nil
		case strings.HasPrefix(base, ".wh."):
			s.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			return nil
		}
		if h.Typeflag == tar.TypeDir {
			// A directory over a directory merges with it.
			if !s.dirs[name] {
				s.remove(name)
				s.dirs[name] = true
			}
			return nil
		}
		// Whatever was at name (a file, or a tree) is replaced.
		s.remove(name)
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		if err := s.file(name, h, r); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// file records a regular file and reads the packages it declares.
func (s *state) file(name string, h *tar.Header, r io.Reader) error {
	h1, h256 := sha1.New(), sha256.New()
	// The first bytes tell an executable; only files a scanner wants are kept.
	var head [4]byte
	n, _ := io.ReadFull(r, head[:])
	body := io.MultiReader(bytes.NewReader(head[:n]), r)
	var keep *bytes.Buffer
	if wanted(name, head[:n], h.Size) {
		keep = &bytes.Buffer{}
		body = io.TeeReader(body, keep)
	}
	size, err := io.Copy(io.MultiWriter(h1, h256), body)
	if err != nil {
		return err
	}
	s.files[name] = File{Path: name, Size: size, SHA1: hex.EncodeToString(h1.Sum(nil)), SHA256: hex.EncodeToString(h256.Sum(nil))}
	if keep == nil {
		return nil
	}
	var ps []Package
	b := keep.Bytes()
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")), bytes.HasPrefix(b, []byte("MZ")), isMachO(b):
		ps = goModules(name, b)
	case name == "var/lib/dpkg/status" || strings.HasPrefix(name, "var/lib/dpkg/status.d/"):
		ps = dpkgStatus(name, b)
	case strings.HasSuffix(name, ".dist-info/METADATA") || strings.HasSuffix(name, ".egg-info/PKG-INFO"):
		ps = pythonMetadata(name, b)
	case name == "etc/os-release" || name == "usr/lib/os-release":
		s.osRelease = osRelease(b)
	}
	if len(ps) > 0 {
		s.packages[name] = ps
	}
	return nil
}

func wanted(name string, head []byte, size int64) bool {
	switch {
	case size <= maxBinary && (bytes.HasPrefix(head, []byte("\x7fELF")) || bytes.HasPrefix(head, []byte("MZ")) || isMachO(head)):
		return true
	case name == "var/lib/dpkg/status", strings.HasPrefix(name, "var/lib/dpkg/status.d/"):
		return true
	case strings.HasSuffix(name, ".dist-info/METADATA"), strings.HasSuffix(name, ".egg-info/PKG-INFO"):
		return true
	case name == "etc/os-release", name == "usr/lib/os-release":
		return true
	}
	return false
}

func isMachO(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch string(b[:4]) {
	case "\xfe\xed\xfa\xce", "\xfe\xed\xfa\xcf", "\xce\xfa\xed\xfe", "\xcf\xfa\xed\xfe":
		return true
	}
	return false
}

// goModules lists the modules a Go binary was built from: its main module,
// its dependencies (as replaced), and the standard library.
func goModules(name string, b []byte) []Package {
	info, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return nil // not a Go binary
	}
	var out []Package
	add := func(p, v string) {
		if p == "" {
			return
		}
		pkg := Package{Type: "golang", Name: p, Version: v, Location: name}
		pkg.PURL = "pkg:golang/" + purlPath(p)
		if v != "" && v != "(devel)" {
			pkg.PURL += "@" + purlEscape(v)
		} else {
			pkg.Version = ""
		}
		out = append(out, pkg)
	}
	add(info.Main.Path, info.Main.Version)
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		add(d.Path, d.Version)
	}
	if v := strings.TrimPrefix(info.GoVersion, "go"); v != "" {
		// Toolchain suffixes (" X:..." experiments) are not part of the version.
		v, _, _ = strings.Cut(v, " ")
		out = append(out, Package{Type: "golang", Name: "stdlib", Version: v, PURL: "pkg:golang/stdlib@" + purlEscape(v), Location: name})
	}
	return out
}

// dpkgStatus reads the installed packages of a dpkg status file (Debian's,
// or one of distroless's status.d files).
func dpkgStatus(name string, b []byte) []Package {
	var out []Package
	for _, para := range bytes.Split(b, []byte("\n\n")) {
		f := fields(para)
		if f["Package"] == "" || f["Version"] == "" {
			continue
		}
		if st := f["Status"]; st != "" && !strings.HasSuffix(st, " installed") {
			continue
		}
		// "Source: name (version)" names the source package, and its version when it differs.
		source, _, _ := strings.Cut(f["Source"], " ")
		out = append(out, Package{Type: "deb", Name: f["Package"], Version: f["Version"], Arch: f["Architecture"], Source: source, Location: name})
	}
	return out
}

// fields parses one RFC 822 style paragraph; continuation lines are
// dropped (no field read here spans lines).
func fields(para []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(para))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			if _, seen := out[k]; !seen {
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

func debPURL(p Package, distro string) string {
	vendor := "debian"
	if d, _, _ := strings.Cut(distro, "-"); d != "" {
		vendor = d
	}
	u := "pkg:deb/" + vendor + "/" + purlEscape(p.Name) + "@" + purlEscape(p.Version)
	var q []string
	if p.Arch != "" {
		q = append(q, "arch="+purlEscape(p.Arch))
	}
	if distro != "" {
		q = append(q, "distro="+purlEscape(distro))
	}
	if p.Source != "" && p.Source != p.Name {
		q = append(q, "upstream="+purlEscape(p.Source))
	}
	if len(q) > 0 {
		u += "?" + strings.Join(q, "&")
	}
	return u
}

// pythonMetadata reads a Python distribution's name and version.
func pythonMetadata(name string, b []byte) []Package {
	head, _, _ := bytes.Cut(b, []byte("\n\n"))
	f := fields(head)
	if f["Name"] == "" || f["Version"] == "" {
		return nil
	}
	// PEP 503 normalization, as purl's pypi type asks.
	norm := strings.ToLower(f["Name"])
	norm = strings.NewReplacer("_", "-", ".", "-").Replace(norm)
	for strings.Contains(norm, "--") {
		norm = strings.ReplaceAll(norm, "--", "-")
	}
	return []Package{{Type: "pypi", Name: f["Name"], Version: f["Version"], PURL: "pkg:pypi/" + purlEscape(norm) + "@" + purlEscape(f["Version"]), Location: name}}
}

func osRelease(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok {
			out[k] = strings.Trim(v, `"'`)
		}
	}
	return out
}

// purlEscape percent-encodes what a purl component may not hold as is.
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// purlPath escapes each segment of a namespace/name path.
func purlPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = purlEscape(s)
	}
	return strings.Join(parts, "/")
}
