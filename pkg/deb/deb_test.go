package deb

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/debtest"
)

func TestCompare(t *testing.T) {
	// Each is greater than the one before, as dpkg --compare-versions says.
	ordered := []string{"1.0~rc1", "1.0", "1.0-1", "1.0-1+b1", "1.0a", "1.0.1", "1.1~~", "1.1~", "1.1", "1.10", "2:0.1"}
	for i := 1; i < len(ordered); i++ {
		a, b := ordered[i-1], ordered[i]
		if Compare(a, b) >= 0 || Compare(b, a) <= 0 {
			t.Errorf("Compare(%q, %q) = %d, want <0", a, b, Compare(a, b))
		}
	}
	for _, same := range [][2]string{{"1.0", "1.0"}, {"0:1.0", "1.0"}, {"1.01", "1.1"}} {
		if Compare(same[0], same[1]) != 0 {
			t.Errorf("Compare(%q, %q) != 0", same[0], same[1])
		}
	}
	if !Satisfies("2.36-9", ">=", "2.36") || Satisfies("2.36-9", "<<", "2.36") || !Satisfies("1.0", "", "") {
		t.Error("Satisfies")
	}
}

func TestParseDeps(t *testing.T) {
	got, err := ParseDeps("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any, foo [amd64]")
	if err != nil {
		t.Fatal(err)
	}
	want := "[[libc6 (>= 2.34)] [debconf (>= 0.5) debconf-2.0] [python3] [foo]]"
	if s := strings.ReplaceAll(strings.ReplaceAll(fmtDeps(got), "{", ""), "}", ""); s != want {
		t.Errorf("ParseDeps = %s, want %s", s, want)
	}
	if _, err := ParseDeps("libc6 (>= )"); err == nil {
		t.Error("a relation without a version parsed")
	}
}

func fmtDeps(groups [][]Dep) string {
	var out []string
	for _, g := range groups {
		var alts []string
		for _, d := range g {
			alts = append(alts, d.String())
		}
		out = append(out, "["+strings.Join(alts, " ")+"]")
	}
	return "[" + strings.Join(out, " ") + "]"
}

const index = `Package: libc6
Version: 2.36-9
Architecture: amd64
Depends: libgcc-s1
Filename: pool/libc6_2.36-9_amd64.deb
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: libc6
Version: 2.31-1
Architecture: amd64

Package: libgcc-s1
Version: 12.2.0
Architecture: amd64
Depends: libc6 (>= 2.35)

Package: base-files
Version: 12.4
Architecture: amd64
Pre-Depends: awk

Package: gawk
Version: 5.2
Architecture: amd64
Priority: optional
Provides: awk

Package: mawk
Version: 1.3
Architecture: amd64
Priority: required
Provides: awk

Package: armonly
Version: 1
Architecture: arm64

Package: pre-a
Version: 1
Architecture: all
Pre-Depends: pre-b

Package: pre-b
Version: 1
Architecture: all
Pre-Depends: pre-a
`

func testIndex(t *testing.T) *Index {
	t.Helper()
	paras, err := ParseParagraphs(strings.NewReader(index))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := NewIndex("amd64", paras)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestResolve(t *testing.T) {
	ix := testIndex(t)
	got, err := ix.Resolve([]string{"base-files", "libc6"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got {
		names = append(names, r.Paragraph["Package"]+"="+r.Paragraph["Version"]+strings.Join(append([]string{""}, r.Depends...), ">"))
	}
	// The newest libc6; mawk (required) provides awk; libc6 and libgcc-s1
	// depend on each other, which is allowed.
	want := "mawk=1.3 base-files=12.4>mawk libgcc-s1=12.2.0>libc6 libc6=2.36-9>libgcc-s1"
	if s := strings.Join(names, " "); s != want {
		t.Errorf("Resolve = %s\nwant       %s", s, want)
	}

	for req, msg := range map[string]string{
		"libc6 (>= 3)": "unsatisfiable version: the manifest needs libc6 (>= 3), but the index for amd64 has libc6 2.36-9, 2.31-1; relax the version or add a source that has one",
		"armonly":      "package armonly (needed by the manifest) is in no Packages index of the sources for amd64",
		"pre-a":        "dependency cycle through Pre-Depends: pre-a -> pre-b -> pre-a; no installation order exists",
		"libc6 (>= ":   `manifest package "libc6 (>= " : write a name`,
	} {
		_, err := ix.Resolve([]string{req})
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), `" :`, `":`), strings.ReplaceAll(msg, `" :`, `":`)) {
			t.Errorf("Resolve(%q) = %v, want %q", req, err, msg)
		}
	}
}

func TestLock(t *testing.T) {
	fetch := func(url string) ([]byte, bool, error) {
		if url == "http://repo/dists/stable/main/binary-amd64/Packages" {
			return []byte(index), true, nil
		}
		return nil, false, nil
	}
	_, err := Lock(Manifest{
		Sources:       []Source{{URL: "http://repo/", Suite: "stable", Components: []string{"main"}}},
		Architectures: []string{"amd64"},
		Packages:      []string{"libc6"},
	}, fetch)
	if err == nil || !strings.Contains(err.Error(), "package libgcc-s1 12.2.0 has no Filename or SHA256") {
		t.Errorf("Lock with an incomplete index: %v", err)
	}
	_, err = Lock(Manifest{Sources: []Source{{URL: "http://elsewhere", Suite: "./"}}, Architectures: []string{"amd64"}, Packages: []string{"x"}}, fetch)
	if err == nil || !strings.Contains(err.Error(), "no Packages index at http://elsewhere/Packages (nor .xz or .gz)") {
		t.Errorf("Lock without an index: %v", err)
	}
}

func TestEscapePath(t *testing.T) {
	for in, want := range map[string]string{
		"pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb": "pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb",
		"pool/zlib1g_1%3a1.2.13+deb12u1_amd64.deb":        "pool/zlib1g_1%253a1.2.13+deb12u1_amd64.deb",
		"pool/libssl3_3.0.22-1~deb12u2_amd64.deb":         "pool/libssl3_3.0.22-1~deb12u2_amd64.deb",
	} {
		if got := escapePath(in); got != want {
			t.Errorf("escapePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	deb := debtest.Write(t, dir, "libx", "Package: libx\nVersion: 1.0\nArchitecture: amd64\n", "abc  lib/x86_64-linux-gnu/libx.so.1\n", []debtest.Entry{
		{Name: "./", Mode: 0o755},
		{Name: "./lib/", Mode: 0o755},
		{Name: "./lib/x86_64-linux-gnu/", Mode: 0o755},
		{Name: "./lib/x86_64-linux-gnu/libx.so.1.0", Mode: 0o644, Body: "ELF"},
		{Name: "./lib/x86_64-linux-gnu/libx.so.1", Link: "libx.so.1.0"},
		{Name: "./usr/bin/tool", Mode: 0o4755, Uid: 0, Gid: 43, Body: "#!"},
		{Name: "./usr/bin/tool2", Hardlink: "./usr/bin/tool"},
	})
	tree := filepath.Join(dir, "tree")
	pkg, entries, err := Extract(deb, ExtractOptions{Tree: tree, UsrMerged: true, StatusDir: "/var/lib/dpkg/status.d"})
	if err != nil {
		t.Fatal(err)
	}
	if pkg.Name() != "libx" {
		t.Errorf("name %q", pkg.Name())
	}
	got := map[string]string{}
	for _, e := range entries {
		s := e.Type
		if e.Metadata != nil {
			s += " " + *e.Metadata.Mode
			if *e.Metadata.GID != 0 {
				s += " gid 43"
			}
		}
		if e.Target != "" {
			s += " -> " + e.Target
		}
		if e.Source != "" {
			b, _ := os.ReadFile(e.Source)
			s += " " + string(b)
		}
		if e.Content != nil {
			s += " " + *e.Content
		}
		got[e.Path] = s
	}
	for p, want := range map[string]string{
		"/usr/lib/x86_64-linux-gnu/libx.so.1.0": "file 0644 ELF",
		"/usr/lib/x86_64-linux-gnu/libx.so.1":   "symlink -> libx.so.1.0",
		"/usr/bin/tool":                         "file 4755 gid 43 #!",
		"/usr/bin/tool2":                        "file 4755 gid 43 #!",
		"/var/lib/dpkg/status.d/libx":           "file 0644 Package: libx\nVersion: 1.0\nArchitecture: amd64\n",
		"/var/lib/dpkg/status.d/libx.md5sums":   "file 0644 abc  lib/x86_64-linux-gnu/libx.so.1\n",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	if _, ok := got["/lib"]; ok {
		t.Errorf("/lib was not moved under /usr: %v", sortedPaths(got))
	}

	files, err := Files(deb, func(n string) bool { return strings.HasPrefix(n, "usr/bin/") })
	if err != nil || len(files) != 1 || string(files["usr/bin/tool"]) != "#!" {
		t.Errorf("Files = %v, %v", files, err)
	}

	junk := filepath.Join(dir, "junk.deb")
	os.WriteFile(junk, []byte("PK\x03\x04 a zip"), 0o644)
	if _, _, err := Extract(junk, ExtractOptions{Tree: tree}); err == nil || !strings.Contains(err.Error(), "not a Debian package: it does not start with an ar archive header") {
		t.Errorf("a zip: %v", err)
	}
	evil := debtest.Write(t, dir, "evil", "Package: evil\n", "", []debtest.Entry{{Name: "../../etc/passwd", Mode: 0o644, Body: "x"}})
	if _, _, err := Extract(evil, ExtractOptions{Tree: tree}); err == nil || !strings.Contains(err.Error(), `entry "../../etc/passwd" is not a clean relative path`) {
		t.Errorf("a path that climbs out: %v", err)
	}
}

func sortedPaths(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
