package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/internal/tartest"
	"github.com/rules-img/rules_img/pkg/layer/fromtar"
	"github.com/rules-img/rules_img/pkg/oci"
)

func mustParse(t *testing.T, js string) *Spec {
	t.Helper()
	s, err := ParseSpec(strings.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tarBytes(t *testing.T, s *Spec) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTarContents(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{
		"server*":              "ELF",
		"config.txt":           "cfg",
		"real.txt":             "via symlink",
		"src-link":             "->real.txt",
		"static/index.html":    "<html>",
		"static/run.sh*":       "#!/bin/sh",
		"static/css/a.css":     "body{}",
		"static/latest":        "->css/a.css",
		"static/css/empty.css": "",
	})
	s := mustParse(t, tartest.SpecJSON(dir, `{
	  "target": "//app:layer",
	  "create_parent_directories": true,
	  "default_metadata": {"uid": 5, "gname": "staff", "mtime": "2020-01-02T03:04:05.9Z", "pax_records": {"comment": "default", "x.a": "1"}},
	  "file_metadata": {
	    "/app/bin/server": {"mode": "0750", "uid": 1000, "uname": "app", "pax_records": {"x.a": "2"}},
	    "/app/static/css": {"mode": "0700", "mtime": 86400},
	    "/app": {"uid": 7},
	    "/var/empty": {"gid": 9}
	  },
	  "entries": [
	    {"path": "/app/bin/server", "type": "file", "source": "$D/server", "executable": true},
	    {"path": "/etc/config.txt", "type": "file", "source": "$D/config.txt"},
	    {"path": "/etc/followed", "type": "file", "source": "$D/src-link"},
	    {"path": "/app/static", "type": "tree", "source": "$D/static"},
	    {"path": "/etc/link", "type": "symlink", "target": "/app/bin/server"},
	    {"path": "/var/empty", "type": "dir"},
	    {"path": "/etc/pkg/__init__.py", "type": "empty"}
	  ]
	}`))
	got := tartest.ListTar(t, tarBytes(t, s))

	const y2020 = 1577934245 // 2020-01-02T03:04:05Z, fraction truncated
	dflt := map[string]string{"comment": "default", "x.a": "1"}
	want := []tartest.Entry{
		{Name: "app/", Type: tar.TypeDir, Mode: 0o755, UID: 7},
		{Name: "app/bin/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "app/bin/server", Type: tar.TypeReg, Mode: 0o750, UID: 1000, Uname: "app", Gname: "staff", Mtime: y2020, Content: "ELF", PAX: map[string]string{"comment": "default", "x.a": "2"}},
		{Name: "app/static/", Type: tar.TypeDir, Mode: 0o755, UID: 5, Gname: "staff", Mtime: y2020, PAX: dflt},
		{Name: "app/static/css/", Type: tar.TypeDir, Mode: 0o700, UID: 5, Gname: "staff", Mtime: 86400, PAX: dflt},
		{Name: "app/static/css/a.css", Type: tar.TypeReg, Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, Content: "body{}", PAX: dflt},
		{Name: "app/static/css/empty.css", Type: tar.TypeReg, Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, PAX: dflt},
		{Name: "app/static/index.html", Type: tar.TypeReg, Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, Content: "<html>", PAX: dflt},
		// A link inside a tree is stored as its content (here: a hardlink to the identical file).
		{Name: "app/static/latest", Type: tar.TypeLink, Link: "app/static/css/a.css", Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, PAX: dflt},
		// Executable on disk, but modes on disk are not inputs: a tree's files are 0644.
		{Name: "app/static/run.sh", Type: tar.TypeReg, Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, Content: "#!/bin/sh", PAX: dflt},
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/config.txt", Type: tar.TypeReg, Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, Content: "cfg", PAX: dflt},
		{Name: "etc/followed", Type: tar.TypeReg, Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, Content: "via symlink", PAX: dflt},
		{Name: "etc/link", Type: tar.TypeSymlink, Link: "/app/bin/server", Mode: 0o777, UID: 5, Gname: "staff", Mtime: y2020, PAX: dflt},
		{Name: "etc/pkg/", Type: tar.TypeDir, Mode: 0o755},
		// An empty entry: a regular file with no source.
		{Name: "etc/pkg/__init__.py", Type: tar.TypeReg, Mode: 0o644, UID: 5, Gname: "staff", Mtime: y2020, PAX: dflt},
		{Name: "var/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "var/empty/", Type: tar.TypeDir, Mode: 0o755, UID: 5, GID: 9, Gname: "staff", Mtime: y2020, PAX: dflt},
	}
	compareEntries(t, got, want)
}

func compareEntries(t *testing.T, got, want []tartest.Entry) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		var g, w tartest.Entry
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		g.Format, w.Format = 0, 0
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestDefaultModeAndParents(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{"tool*": "x", "data": "y", "tree/sub/f": "z"})
	// default_metadata.mode applies to files (even executable ones), never to
	// dirs or symlinks; parents are only created when asked.
	for _, create := range []bool{false, true} {
		s := mustParse(t, tartest.SpecJSON(dir, fmt.Sprintf(`{
		  "target": "//t", "create_parent_directories": %v,
		  "default_metadata": {"mode": "0600"},
		  "entries": [
		    {"path": "/a/b/tool", "type": "file", "source": "$D/tool"},
		    {"path": "/a/data", "type": "file", "source": "$D/data"},
		    {"path": "/a/t", "type": "tree", "source": "$D/tree"},
		    {"path": "/l", "type": "symlink", "target": "a"},
		    {"path": "/d", "type": "dir"}
		  ]}`, create)))
		var names []string
		for _, e := range tartest.ListTar(t, tarBytes(t, s)) {
			names = append(names, fmt.Sprintf("%s:%o", e.Name, e.Mode))
		}
		want := "a/b/tool:600 a/data:600 a/t/:755 a/t/sub/:755 a/t/sub/f:600 d/:755 l:777"
		if create {
			want = "a/:755 a/b/:755 a/b/tool:600 a/data:600 a/t/:755 a/t/sub/:755 a/t/sub/f:600 d/:755 l:777"
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("create_parent_directories=%v:\n got %s\nwant %s", create, got, want)
		}
	}
}

func TestTreeAtRoot(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{"root/etc/os-release": "ID=x", "root/bin/sh*": "sh"})
	s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t", "entries": [{"path": "/", "type": "tree", "source": "$D/root"}]}`))
	var names []string
	for _, e := range tartest.ListTar(t, tarBytes(t, s)) {
		names = append(names, e.Name)
	}
	if got := strings.Join(names, " "); got != "bin/ bin/sh etc/ etc/os-release" {
		t.Errorf("got %s", got)
	}
}

func TestPAXOnlyWhenNeeded(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 120)
	// Distinct contents so deduplication does not turn these into hardlinks.
	tartest.WriteFiles(t, dir, map[string]string{"f1": "1", "f2": "2", "f3": "3", "f4": "4", "f5": "55"})
	s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t", "create_parent_directories": true,
	  "file_metadata": {"/big": {"uid": 3000000}, "/rec": {"pax_records": {"SCHILY.xattr.user.k": "v"}}},
	  "entries": [
	    {"path": "/plain", "type": "file", "source": "$D/f1"},
	    {"path": "/split/`+strings.Repeat("p", 90)+`/`+strings.Repeat("q", 90)+`", "type": "file", "source": "$D/f5"},
	    {"path": "/`+long+`", "type": "file", "source": "$D/f2"},
	    {"path": "/big", "type": "file", "source": "$D/f3"},
	    {"path": "/rec", "type": "file", "source": "$D/f4"}
	  ]}`))
	got := map[string]tartest.Entry{}
	for _, e := range tartest.ListTar(t, tarBytes(t, s)) {
		got[e.Name] = e
	}
	for name, want := range map[string]tar.Format{
		"plain":  tar.FormatUSTAR,
		"split/": tar.FormatUSTAR,
		// Fits USTAR's prefix/name split, so no PAX header.
		"split/" + strings.Repeat("p", 90) + "/" + strings.Repeat("q", 90): tar.FormatUSTAR,
		strings.Repeat("d", 120) + "/":                                     tar.FormatPAX,
		long:                                                               tar.FormatPAX,
		"big":                                                              tar.FormatPAX,
		"rec":                                                              tar.FormatPAX,
	} {
		if e, ok := got[name]; !ok || e.Format != want {
			t.Errorf("%s: format %v, want %v", name, e.Format, want)
		}
	}
	if e := got["big"]; e.UID != 3000000 {
		t.Errorf("big uid: %+v", e)
	}
	if e := got["rec"]; e.PAX["SCHILY.xattr.user.k"] != "v" {
		t.Errorf("pax record: %+v", e)
	}
	if e := got[long]; e.Content != "2" {
		t.Errorf("long: %+v", e)
	}
}

func TestDedup(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{
		"one": "same content", "two": "same content", "tree/three": "same content",
		"other": "diff content", // same size, different bytes
		"e1":    "", "e2": "",
		"exec*": "same content", // same bytes, different mode
	})
	s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t",
	  "file_metadata": {"/z/owned": {"uid": 1}},
	  "entries": [
	    {"path": "/b/one", "type": "file", "source": "$D/one"},
	    {"path": "/a/two", "type": "file", "source": "$D/two"},
	    {"path": "/c", "type": "tree", "source": "$D/tree"},
	    {"path": "/d/again", "type": "file", "source": "$D/one"},
	    {"path": "/o", "type": "file", "source": "$D/other"},
	    {"path": "/e1", "type": "file", "source": "$D/e1"},
	    {"path": "/e2", "type": "file", "source": "$D/e2"},
	    {"path": "/x", "type": "file", "source": "$D/exec", "executable": true},
	    {"path": "/z/owned", "type": "file", "source": "$D/one"}
	  ]}`))
	var got []string
	for _, e := range tartest.ListTar(t, tarBytes(t, s)) {
		switch e.Type {
		case tar.TypeLink:
			got = append(got, e.Name+"=>"+e.Link)
		case tar.TypeReg:
			got = append(got, e.Name+":"+e.Content)
		}
	}
	want := "a/two:same content b/one=>a/two c/three=>a/two d/again=>a/two e1: e2: o:diff content x:same content z/owned:same content"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}
}

func TestDeterministic(t *testing.T) {
	files := map[string]string{"bin/app*": "binary", "data.txt": "data", "tree/a": "a", "tree/b/c*": "c", "tree/l": "->a"}
	spec := `{"target": "//t", "create_parent_directories": true, "entries": [
	  {"path": "/usr/bin/app", "type": "file", "source": "$D/bin/app", "executable": true},
	  {"path": "/usr/share/data.txt", "type": "file", "source": "$D/data.txt"},
	  {"path": "/opt/tree", "type": "tree", "source": "$D/tree"}]}`
	build := func(dir string) []byte {
		s := mustParse(t, tartest.SpecJSON(dir, spec))
		var blob bytes.Buffer
		if _, err := Build(s, &blob, compress.Options{Algorithm: "gzip", Level: -1, Jobs: 1}); err != nil {
			t.Fatal(err)
		}
		return blob.Bytes()
	}
	d1 := t.TempDir()
	tartest.WriteFiles(t, d1, files)
	first := build(d1)
	if !bytes.Equal(first, build(d1)) {
		t.Fatal("same spec built twice gave different bytes")
	}
	// A second copy with different mtimes, owners, non-exec permission bits
	// and creation order must give the same bytes.
	d2 := t.TempDir()
	for name, c := range map[string]string{"tree/l": "->a", "tree/b/c*": "c", "data.txt": "data", "tree/a": "a", "bin/app*": "binary"} {
		tartest.WriteFiles(t, d2, map[string]string{name: c})
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	filepath.Walk(d2, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			os.Chmod(p, fi.Mode().Perm()&^0o044|0o700)
			os.Chown(p, 1234, 5678) // works when tests run as root
		}
		if err == nil && fi.Mode()&os.ModeSymlink == 0 {
			os.Chtimes(p, old, old)
		}
		return nil
	})
	// chmod u+x made everything executable on d2; undo for data and a.
	os.Chmod(filepath.Join(d2, "data.txt"), 0o600)
	os.Chmod(filepath.Join(d2, "tree/a"), 0o600)
	if !bytes.Equal(first, build(d2)) {
		t.Fatal("different source directory metadata changed the layer bytes")
	}
}

// TestModesComeFromTheSpec stages the same inputs as a local build does
// (0644 sources, 0755 binaries) and as a remote executor does (everything
// 0755), and as a umask-happy checkout might (0600): the layer bytes must not
// change, and the modes must be those the spec decided.
func TestModesComeFromTheSpec(t *testing.T) {
	files := map[string]string{"bin/app": "binary", "etc/greeting.txt": "hi", "tree/a": "a", "tree/sub/b": "b", "rf/lib.so": "lib"}
	spec := `{"target": "//t", "create_parent_directories": true, "entries": [
	  {"path": "/app/hello", "type": "file", "source": "$D/bin/app", "executable": true},
	  {"path": "/app/hello.runfiles/lib.so", "type": "file", "source": "$D/rf/lib.so"},
	  {"path": "/etc/greeting.txt", "type": "file", "source": "$D/etc/greeting.txt"},
	  {"path": "/opt/tree", "type": "tree", "source": "$D/tree"}]}`
	var first []byte
	for _, perm := range []os.FileMode{0o644, 0o755, 0o600, 0o777} {
		dir := t.TempDir()
		tartest.WriteFiles(t, dir, files)
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				os.Chmod(p, perm)
			}
			return nil
		})
		got := tarBytes(t, mustParse(t, tartest.SpecJSON(dir, spec)))
		if first == nil {
			first = got
			modes := map[string]int64{}
			for _, e := range tartest.ListTar(t, got) {
				modes[e.Name] = e.Mode
			}
			want := map[string]int64{"app/hello": 0o755, "app/hello.runfiles/lib.so": 0o644, "etc/greeting.txt": 0o644,
				"opt/tree/a": 0o644, "opt/tree/sub/": 0o755, "opt/tree/sub/b": 0o644}
			for name, mode := range want {
				if modes[name] != mode {
					t.Errorf("%s: mode %o, want %o", name, modes[name], mode)
				}
			}
			continue
		}
		if !bytes.Equal(first, got) {
			t.Errorf("sources with mode %o gave different layer bytes than with 0644", perm)
		}
	}
	for _, bad := range []string{
		`{"path": "/t", "type": "tree", "source": "$D", "executable": true}`,
		`{"path": "/l", "type": "symlink", "target": "/x", "executable": true}`,
		`{"path": "/d", "type": "dir", "executable": true}`,
	} {
		err := Write(io.Discard, mustParse(t, tartest.SpecJSON(t.TempDir(), `{"target": "//t", "entries": [`+bad+`]}`)))
		if err == nil || !strings.Contains(err.Error(), "executable") {
			t.Errorf("%s: err = %v, want one about executable", bad, err)
		}
	}
}

func TestTreeSymlinksAreStoredAsContent(t *testing.T) {
	// Mimic a Bazel sandbox: the tree's entries are absolute symlinks into the
	// real execroot, where the tree itself holds one relative link.
	real := t.TempDir()
	tartest.WriteFiles(t, real, map[string]string{"bazel-out/bin/static/css/a.css": "body{}", "bazel-out/bin/static/run*": "x",
		"bazel-out/bin/static/link": "->css/a.css"})
	sandbox := t.TempDir()
	tartest.WriteFiles(t, sandbox, map[string]string{
		"bazel-out/bin/static/css/a.css": "->" + filepath.Join(real, "bazel-out/bin/static/css/a.css"),
		"bazel-out/bin/static/run":       "->" + filepath.Join(real, "bazel-out/bin/static/run"),
		"bazel-out/bin/static/keep":      "->" + filepath.Join(real, "bazel-out/bin/static/run"),
		"bazel-out/bin/static/link":      "->" + filepath.Join(real, "bazel-out/bin/static/link"),
	})
	t.Chdir(sandbox)
	spec := `{"target": "//t", "entries": [{"path": "/s", "type": "tree", "source": "bazel-out/bin/static"}]}`
	sandboxed := tarBytes(t, mustParse(t, spec))
	var got []string
	for _, e := range tartest.ListTar(t, sandboxed) {
		got = append(got, fmt.Sprintf("%s:%c:%o:%s%s", e.Name, e.Type, e.Mode, e.Content, e.Link))
	}
	// keep and run have the same content and header: one is a hardlink.
	want := "s/:5:755: s/css/:5:755: s/css/a.css:0:644:body{} s/keep:0:644:x s/link:1:644:s/css/a.css s/run:1:644:s/keep"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}

	// The same tree as a cache hands it back (links already files) gives the
	// same bytes.
	cached := t.TempDir()
	tartest.WriteFiles(t, cached, map[string]string{"bazel-out/bin/static/css/a.css": "body{}", "bazel-out/bin/static/run*": "x",
		"bazel-out/bin/static/keep*": "x", "bazel-out/bin/static/link": "body{}"})
	t.Chdir(cached)
	if !bytes.Equal(tarBytes(t, mustParse(t, spec)), sandboxed) {
		t.Error("a tree with materialized links gave different bytes than the sandboxed one")
	}

	// A link that points nowhere is an error naming it.
	broken := t.TempDir()
	tartest.WriteFiles(t, broken, map[string]string{"bazel-out/bin/static/gone": "->missing"})
	t.Chdir(broken)
	err := Write(io.Discard, mustParse(t, spec))
	if err == nil || !strings.Contains(err.Error(), "gone") || !strings.Contains(err.Error(), "points nowhere") {
		t.Errorf("dangling link: err = %v", err)
	}
}

func TestValidationErrors(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{"f": "x", "g": "y", "tree/f": "z", "tree/d/x": "w"})
	os.Mkdir(filepath.Join(dir, "emptydir"), 0o755)
	for _, tc := range []struct {
		name, entries, meta string
		want                []string
	}{
		{"relative", `{"path": "app/f", "type": "file", "source": "$D/f"}`, ``, []string{`"app/f"`, "absolute"}},
		{"empty", `{"path": "", "type": "file", "source": "$D/f"}`, ``, []string{"empty"}},
		{"dotdot", `{"path": "/a/../f", "type": "file", "source": "$D/f"}`, ``, []string{`"/a/../f"`, "normalized"}},
		{"dot", `{"path": "/a/./f", "type": "file", "source": "$D/f"}`, ``, []string{`"/a/./f"`}},
		{"double slash", `{"path": "/a//f", "type": "file", "source": "$D/f"}`, ``, []string{`"/a//f"`}},
		{"root file", `{"path": "/", "type": "file", "source": "$D/f"}`, ``, []string{`"/"`, "tree"}},
		{"duplicate", `{"path": "/x", "type": "file", "source": "$D/f"}, {"path": "/x", "type": "file", "source": "$D/g"}`, ``,
			[]string{"two sources for /x: $D/f and $D/g; remove one from srcs"}},
		{"tree child dup", `{"path": "/t", "type": "tree", "source": "$D/tree"}, {"path": "/t/f", "type": "file", "source": "$D/g"}`, ``,
			[]string{"two sources for /t/f:", "$D/tree/f", "$D/g", "remove one"}},
		{"dup dir", `{"path": "/d", "type": "dir"}, {"path": "/d", "type": "symlink", "target": "x"}`, ``, []string{"two sources for /d"}},
		{"file as parent", `{"path": "/x", "type": "file", "source": "$D/f"}, {"path": "/x/y", "type": "file", "source": "$D/g"}`, ``,
			[]string{"/x is a file", "/x/y", "directory"}},
		{"unknown type", `{"path": "/x", "type": "fifo"}`, ``, []string{`"fifo"`, "/x", `"file", "tree", "symlink", "dir" or "empty"`}},
		{"missing source", `{"path": "/x", "type": "file", "source": "$D/nope"}`, ``, []string{"/x", "$D/nope does not exist", "srcs"}},
		{"no source", `{"path": "/x", "type": "file"}`, ``, []string{"/x", "no source"}},
		{"dir as file", `{"path": "/x", "type": "file", "source": "$D/emptydir"}`, ``, []string{"/x", "is a directory", `"tree"`}},
		{"file as tree", `{"path": "/x", "type": "tree", "source": "$D/f"}`, ``, []string{"/x", "not a directory", `"file"`}},
		{"symlink no target", `{"path": "/l", "type": "symlink"}`, ``, []string{"/l", "symlink without target; set target"}},
		{"bad mode", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"file_metadata": {"/x": {"mode": "rwx"}}`, []string{`file_metadata["/x"]`, `bad mode "rwx"`, `"0755"`}},
		{"mode too big", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"default_metadata": {"mode": "17777"}`, []string{"default_metadata", "bad mode"}},
		{"negative uid", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"file_metadata": {"/x": {"uid": -1}}`, []string{`file_metadata["/x"]`, "bad uid -1"}},
		{"negative gid", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"default_metadata": {"gid": -2}`, []string{"default_metadata", "bad gid -2"}},
		{"bad mtime", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"file_metadata": {"/x": {"mtime": "yesterday"}}`, []string{`file_metadata["/x"]`, "bad mtime", "RFC 3339"}},
		{"float mtime", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"default_metadata": {"mtime": 1.5}`, []string{"bad mtime 1.5"}},
		{"reserved pax", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"default_metadata": {"pax_records": {"uid": "3"}}`, []string{`"uid" is reserved`}},
		{"unused file_metadata", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"file_metadata": {"/y": {"uid": 1}}`, []string{"file_metadata for /y matches no entry"}},
		{"bad file_metadata key", `{"path": "/x", "type": "file", "source": "$D/f"}`, `"file_metadata": {"y": {"uid": 1}}`, []string{"file_metadata key", `"y"`, "absolute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := `{"target": "//pkg:img_layer", "entries": [` + tc.entries + `]`
			if tc.meta != "" {
				js += ", " + tc.meta
			}
			s := mustParse(t, tartest.SpecJSON(dir, js+"}"))
			var out bytes.Buffer
			_, err := Build(s, &out, compress.Options{Algorithm: "gzip", Level: -1})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "//pkg:img_layer: ") {
				t.Errorf("error does not name the target: %v", err)
			}
			for _, w := range tc.want {
				if w = tartest.SpecJSON(dir, w); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if out.Len() != 0 {
				t.Errorf("validation error after %d bytes of output", out.Len())
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, js := range []string{
		`{"target": "//t", "entrys": []}`,
		`{"target": "//t", "entries": [{"path": "/x", "type": "dir", "mode": "0755"}]}`,
		`{"target": "//t", "default_metadata": {"mode": 755}}`,
		`{"target": "//t"} {}`,
		`not json`,
	} {
		if _, err := ParseSpec(strings.NewReader(js)); err == nil {
			t.Errorf("ParseSpec(%s) succeeded", js)
		}
	}
}

func TestBuildMetadata(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{"f": strings.Repeat("hello layer ", 100000)})
	s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t", "create_parent_directories": true, "entries": [{"path": "/a/f", "type": "file", "source": "$D/f"}]}`))
	plain := tarBytes(t, s)
	for _, o := range []compress.Options{
		{Algorithm: "none", Level: -1}, {Algorithm: "gzip", Level: -1}, {Algorithm: "gzip", Level: 9, Jobs: 4},
		{Algorithm: "zstd", Level: -1}, {Algorithm: "zstd", Level: 1, Jobs: 3},
	} {
		var blob bytes.Buffer
		m, err := Build(s, &blob, o)
		if err != nil {
			t.Fatal(err)
		}
		if m.Digest != tartest.Sha(blob.Bytes()) || m.Size != int64(blob.Len()) {
			t.Errorf("%+v: digest/size %s/%d, blob has %s/%d", o, m.Digest, m.Size, tartest.Sha(blob.Bytes()), blob.Len())
		}
		if m.MediaType != compress.MediaType(o.Algorithm) {
			t.Errorf("%+v: media type %s", o, m.MediaType)
		}
		if got := tartest.Decompress(t, blob.Bytes(), o.Algorithm); !bytes.Equal(got, plain) {
			t.Errorf("%+v: decompressed blob differs from Write output", o)
		}
		if m.DiffID != tartest.Sha(plain) {
			t.Errorf("%+v: diffID %s, want %s", o, m.DiffID, tartest.Sha(plain))
		}
	}
	if _, err := Build(s, io.Discard, compress.Options{Algorithm: "lz4", Level: -1}); err == nil || !strings.Contains(err.Error(), "allowed") {
		t.Errorf("bad algorithm: %v", err)
	}
}

// TestBoundedMemory builds a 200 MiB layer, feeding the blob straight into
// FromTar, and checks the heap never holds more than a fraction of it.
func TestBoundedMemory(t *testing.T) {
	dir := t.TempDir()
	// A sparse file costs no disk; the random file is incompressible, and its
	// copy exercises the dedup hashing path.
	sparse, err := os.Create(filepath.Join(dir, "zeros"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(150 << 20); err != nil {
		t.Fatal(err)
	}
	sparse.Close()
	rnd := make([]byte, 50<<20)
	rand.NewChaCha8([32]byte{1}).Read(rnd)
	for _, n := range []string{"random", "random-copy"} {
		if err := os.WriteFile(filepath.Join(dir, n), rnd, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rnd = nil
	s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t", "create_parent_directories": true, "entries": [
	  {"path": "/data/zeros", "type": "file", "source": "$D/zeros"},
	  {"path": "/data/random", "type": "file", "source": "$D/random"},
	  {"path": "/data/random-copy", "type": "file", "source": "$D/random-copy"}]}`))

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	pr, pw := io.Pipe()
	var built oci.LayerMetadata
	var buildErr error
	go func() {
		built, buildErr = Build(s, pw, compress.Options{Algorithm: "gzip", Level: 1, Jobs: 4})
		pw.CloseWithError(buildErr)
	}()
	reread, err := fromtar.FromTar(pr, io.Discard, compress.Options{Algorithm: fromtar.Auto}, fromtar.TarRules{})
	close(stop)
	<-done
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if built.Digest != reread.Digest || built.DiffID != reread.DiffID || built.Size != reread.Size {
		t.Errorf("FromTar(auto) of the blob disagrees: %+v vs %+v", built, reread)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("200 MiB layer: %v, blob %d bytes, heap grew by %.1f MiB", time.Since(start), built.Size, float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Errorf("heap grew by %d MiB while writing a 200 MiB layer; something buffers the layer", grew>>20)
	}
}

func TestDedupStages(t *testing.T) {
	dir := t.TempDir()
	prefix := strings.Repeat("p", prefixLen)
	tartest.WriteFiles(t, dir, map[string]string{
		"small":       "same",
		"big-a":       prefix + "tail-A",
		"big-b":       prefix + "tail-B", // same size and first 64 KiB, other tail
		"big-a-again": prefix + "tail-A",
	})
	s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t", "entries": [
	  {"path": "/1/small", "type": "file", "source": "$D/small"},
	  {"path": "/2/small", "type": "file", "source": "$D/small"},
	  {"path": "/a", "type": "file", "source": "$D/big-a"},
	  {"path": "/b", "type": "file", "source": "$D/big-b"},
	  {"path": "/c", "type": "file", "source": "$D/big-a-again"}
	]}`))
	links := map[string]string{}
	for _, e := range tartest.ListTar(t, tarBytes(t, s)) {
		if e.Type == tar.TypeLink {
			links[e.Name] = e.Link
		}
	}
	want := map[string]string{"2/small": "1/small", "c": "a"}
	if fmt.Sprint(links) != fmt.Sprint(want) {
		t.Errorf("hardlinks = %v, want %v (b differs from a only after the first 64 KiB)", links, want)
	}
}

// TestDedupReadsOnce: every source is opened once, except files of a pair
// with the same size and first 64 KiB: the earlier one is read again to be
// hashed, and the later one, when it differs after 64 KiB, is hashed and then
// read again to be written.
func TestDedupReadsOnce(t *testing.T) {
	dir := t.TempDir()
	prefix := strings.Repeat("p", prefixLen)
	tartest.WriteFiles(t, dir, map[string]string{
		"unique":      "only one of this size",
		"small-1":     "same",
		"small-2":     "same",
		"small-3":     "diff",
		"big-a":       prefix + "tail-A",
		"big-b":       prefix + "tail-B",
		"big-a-again": prefix + "tail-A",
		"big-c":       strings.Repeat("q", prefixLen) + "tail-C",
	})
	s := mustParse(t, tartest.SpecJSON(dir, `{"target": "//t", "entries": [
	  {"path": "/u", "type": "file", "source": "$D/unique"},
	  {"path": "/s1", "type": "file", "source": "$D/small-1"},
	  {"path": "/s2", "type": "file", "source": "$D/small-2"},
	  {"path": "/s3", "type": "file", "source": "$D/small-3"},
	  {"path": "/s4", "type": "file", "source": "$D/small-1"},
	  {"path": "/a", "type": "file", "source": "$D/big-a"},
	  {"path": "/b", "type": "file", "source": "$D/big-b"},
	  {"path": "/c", "type": "file", "source": "$D/big-a-again"},
	  {"path": "/d", "type": "file", "source": "$D/big-c"}
	]}`))
	opens := map[string]int{}
	var mu sync.Mutex // small files are opened on the read-ahead goroutine
	old := openFile
	openFile = func(name string) (io.ReadCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		opens[filepath.Base(name)]++
		return old(name)
	}
	defer func() { openFile = old }()
	links := map[string]string{}
	for _, e := range tartest.ListTar(t, tarBytes(t, s)) {
		if e.Type == tar.TypeLink {
			links[e.Name] = e.Link
		}
	}
	if want := map[string]string{"s2": "s1", "s4": "s1", "c": "a"}; fmt.Sprint(links) != fmt.Sprint(want) {
		t.Errorf("hardlinks = %v, want %v", links, want)
	}
	// small-1 is at two paths and read once; big-b matches big-a's first
	// 64 KiB, so big-a is read again to be hashed, and big-b, which differs
	// after that, is hashed and then read again to be written. big-a-again
	// is hashed once and becomes a link; big-c's prefix is new.
	want := map[string]int{"unique": 1, "small-1": 1, "small-2": 1, "small-3": 1, "big-a": 2, "big-b": 2, "big-a-again": 1, "big-c": 1}
	if fmt.Sprint(opens) != fmt.Sprint(want) {
		t.Errorf("opens = %v\nwant    %v", opens, want)
	}
}

// An entry's own metadata (what layer_from_pkg gets from rules_pkg's
// attributes) applies to the entry and to the files of a tree, yields to
// file_metadata and beats default_metadata.
func TestEntryMetadata(t *testing.T) {
	dir := t.TempDir()
	tartest.WriteFiles(t, dir, map[string]string{"cfg": "c", "tree/a": "a", "tree/sub/b": "b", "plain": "p"})
	spec := `{"target": "//t", "default_metadata": {"mode": "0444", "uid": 7},
	  "file_metadata": {"/opt/tree/sub/b": {"mode": "0640"}},
	  "entries": [
	  {"path": "/etc/cfg", "type": "file", "source": "$D/cfg", "metadata": {"mode": "0600", "uname": "app"}},
	  {"path": "/plain", "type": "file", "source": "$D/plain"},
	  {"path": "/opt/tree", "type": "tree", "source": "$D/tree", "metadata": {"mode": "0750", "gid": 5}},
	  {"path": "/var/log/app", "type": "dir", "metadata": {"mode": "0700"}},
	  {"path": "/usr/bin/x", "type": "symlink", "target": "/etc/cfg", "metadata": {"uname": "root"}}]}`
	got := map[string]tartest.Entry{}
	for _, e := range tartest.ListTar(t, tarBytes(t, mustParse(t, tartest.SpecJSON(dir, spec)))) {
		got[e.Name] = e
	}
	for name, want := range map[string]struct {
		mode     int64
		uid, gid int
		uname    string
	}{
		"etc/cfg":        {0o600, 7, 0, "app"},
		"plain":          {0o444, 7, 0, ""},
		"opt/tree/":      {0o755, 7, 5, ""},
		"opt/tree/a":     {0o750, 7, 5, ""},
		"opt/tree/sub/":  {0o755, 7, 5, ""},
		"opt/tree/sub/b": {0o640, 7, 5, ""},
		"var/log/app/":   {0o700, 7, 0, ""},
		"usr/bin/x":      {0o777, 7, 0, "root"},
	} {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		if e.Mode != want.mode || e.UID != want.uid || e.GID != want.gid || e.Uname != want.uname {
			t.Errorf("%s: mode %o uid %d gid %d uname %q, want %o %d %d %q", name, e.Mode, e.UID, e.GID, e.Uname, want.mode, want.uid, want.gid, want.uname)
		}
	}
	bad := `{"target": "//t", "entries": [{"path": "/x", "type": "dir", "metadata": {"mode": "rwx"}}]}`
	if err := Write(io.Discard, mustParse(t, bad)); err == nil || !strings.Contains(err.Error(), "entries[0] (/x) metadata: bad mode") {
		t.Errorf("bad entry metadata: err = %v", err)
	}
}

func TestContentEntries(t *testing.T) {
	s := mustParse(t, `{"target": "//t", "entries": [
	  {"path": "/etc/passwd", "type": "file", "content": "root:x:0:0::/root:/bin/sh\n", "metadata": {"mode": "0640"}},
	  {"path": "/etc/empty", "type": "file", "content": ""}]}`)
	tr := tar.NewReader(bytes.NewReader(tarBytes(t, s)))
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = fmt.Sprintf("%o %s", h.Mode, b)
	}
	if got["etc/passwd"] != "640 root:x:0:0::/root:/bin/sh\n" || got["etc/empty"] != "644 " || len(got) != 2 {
		t.Errorf("content entries: %q", got)
	}
	for _, bad := range []string{
		`{"path": "/x", "type": "file", "content": "a", "source": "/etc/hostname"}`,
		`{"path": "/x", "type": "tree", "content": "a"}`,
		`{"path": "/x", "type": "symlink", "content": "a", "target": "y"}`,
		`{"path": "/x", "type": "dir", "content": "a"}`,
	} {
		err := Write(io.Discard, mustParse(t, `{"target": "//t", "entries": [`+bad+`]}`))
		if err == nil || !strings.Contains(err.Error(), "content") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}
