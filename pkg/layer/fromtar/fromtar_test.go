package fromtar

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/internal/tartest"
)

// hdr is one entry of a test tar: a header and, for files, its data.
type hdr struct {
	tar.Header
	data string
}

func file(name, data string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatUSTAR}, data}
}

func dirEntry(name string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatUSTAR}, ""}
}

func link(kind byte, name, target string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: kind, Linkname: target, Mode: 0o777, Format: tar.FormatUSTAR}, ""}
}

func special(kind byte, name string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: kind, Mode: 0o644, Devmajor: 1, Devminor: 3, Format: tar.FormatUSTAR}, ""}
}

func makeTar(t testing.TB, entries ...hdr) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range entries {
		if err := w.WriteHeader(&e.Header); err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.data)
	}
	w.Close()
	return b.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w, err := compress.NewWriter(&out, compress.Options{Algorithm: "gzip", Level: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestFromTarRefusesHostileEntries(t *testing.T) {
	cases := []struct {
		name    string
		entries []hdr
		rules   TarRules
		want    string // "" means accepted
	}{
		{"traversal", []hdr{file("../../etc/evil", "x")}, TarRules{},
			`entry "../../etc/evil" escapes the layer root ('..'): rebuild the tar without it (validation = "traversal_only" still refuses this)`},
		{"traversal inside", []hdr{file("a/../../b", "x")}, TarRules{TraversalOnly: true}, `entry "a/../../b" escapes the layer root`},
		{"harmless dotdot still refused", []hdr{file("a/../b", "x")}, TarRules{}, `escapes the layer root`},
		{"dangling hardlink", []hdr{link(tar.TypeLink, "a/b", "does/not/exist")}, TarRules{},
			`entry "a/b" is a hardlink to "does/not/exist", which is not a file earlier in the tar: put the target before the link, or set validation = "traversal_only"`},
		{"hardlink before target", []hdr{link(tar.TypeLink, "l", "f"), file("f", "x")}, TarRules{}, `not a file earlier in the tar`},
		{"hardlink to a directory", []hdr{dirEntry("d/"), link(tar.TypeLink, "l", "d")}, TarRules{}, `not a file earlier in the tar`},
		{"hardlink escaping", []hdr{link(tar.TypeLink, "l", "../x")}, TarRules{TraversalOnly: true}, `is a hardlink to "../x", which escapes the layer root`},
		{"dangling hardlink as is", []hdr{link(tar.TypeLink, "a/b", "does/not/exist")}, TarRules{TraversalOnly: true}, ""},
		{"hardlink ok", []hdr{file("f", "x"), link(tar.TypeLink, "l", "f")}, TarRules{}, ""},
		{"duplicate", []hdr{file("a", "1"), file("a", "2")}, TarRules{},
			`entry "a" occurs twice in the tar, and which one a runtime keeps differs: remove one, or set allow_duplicate_paths = True (the later entry wins)`},
		{"duplicate via ./", []hdr{file("a", "1"), file("./a", "2")}, TarRules{}, `occurs twice`},
		{"duplicate allowed", []hdr{file("a", "1"), file("a", "2")}, TarRules{AllowDuplicates: true}, ""},
		{"directory twice", []hdr{dirEntry("d/"), dirEntry("d/")}, TarRules{}, ""},
		{"char device", []hdr{special(tar.TypeChar, "dev/null2")}, TarRules{},
			`entry "dev/null2" is a character device: remove it from the tar, or set allow_device_files = True (unpacking it then needs privileges)`},
		{"block device", []hdr{special(tar.TypeBlock, "dev/sda9")}, TarRules{}, `is a block device`},
		{"fifo", []hdr{special(tar.TypeFifo, "run/pipe")}, TarRules{}, `is a FIFO`},
		{"device allowed", []hdr{special(tar.TypeChar, "dev/null2")}, TarRules{AllowDevices: true}, ""},
		{"device as is", []hdr{special(tar.TypeChar, "dev/null2")}, TarRules{TraversalOnly: true}, ""},
		{"unknown type", []hdr{special('V', "volume")}, TarRules{}, `entry "volume" has tar type "V", which a layer cannot carry`},
		{"unknown type as is", []hdr{special('V', "volume")}, TarRules{TraversalOnly: true}, ""},
		{"below a symlink", []hdr{link(tar.TypeSymlink, "etc2", "/etc"), file("etc2/passwd", "x")}, TarRules{TraversalOnly: true},
			`entry "etc2/passwd" lies below "etc2", a symlink earlier in the tar, so it would be written where the link points`},
		{"symlink then real dir", []hdr{link(tar.TypeSymlink, "d", "/x"), dirEntry("d/"), file("d/f", "x")}, TarRules{AllowDuplicates: true}, ""},
		{"root file", []hdr{file(".", "x")}, TarRules{}, `names the layer root`},
		{"symlink with dotdot target is fine", []hdr{link(tar.TypeSymlink, "a/l", "../../etc")}, TarRules{}, ""},
		{"whiteout is fine", []hdr{file("a/.wh.b", "")}, TarRules{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := makeTar(t, c.entries...)
			for _, alg := range []string{"auto", "gzip"} {
				var blob bytes.Buffer
				_, err := FromTar(bytes.NewReader(gzipped(t, in)), &blob, compress.Options{Algorithm: alg, Level: -1, Jobs: 1}, c.rules)
				switch {
				case c.want == "" && err != nil:
					t.Errorf("%s: %v", alg, err)
				case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
					t.Errorf("%s: got %v\nwant %s", alg, err, c.want)
				}
				var ee *EntryError
				if c.want != "" && err != nil && !errors.As(err, &ee) {
					t.Errorf("%s: %v is not an EntryError", alg, err)
				}
			}
		})
	}
}

func TestFromTarCanonicalNames(t *testing.T) {
	long := strings.Repeat("d", 120) + "/f"
	in := makeTar(t,
		dirEntry("./"),
		dirEntry("./etc/"),
		file("/etc/passwd", "root"),
		file(".//etc/./group", "g"),
		link(tar.TypeLink, "./etc/hard", "/etc/passwd"),
		link(tar.TypeSymlink, "/etc/soft", "/etc/passwd"),
		hdr{tar.Header{Name: "./" + long, Typeflag: tar.TypeReg, Mode: 0o644, Size: 3, Format: tar.FormatPAX, PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, "abc"},
		file("ok", "kept"),
	)
	want := []string{"etc/", "etc/passwd", "etc/group", "etc/hard>etc/passwd", "etc/soft>/etc/passwd", long, "ok"}
	dir := t.TempDir()
	for _, alg := range []string{"auto", "none", "zstd"} {
		// Through files, as img runs it: auto starts over once.
		src := filepath.Join(dir, "in.tar.gz")
		os.WriteFile(src, gzipped(t, in), 0o644)
		f, _ := os.Open(src)
		out, _ := os.Create(filepath.Join(dir, "blob"))
		m, err := FromTar(f, out, compress.Options{Algorithm: alg, Level: -1, Jobs: 1}, TarRules{})
		f.Close()
		out.Close()
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		stored := alg
		if alg == "auto" {
			stored = "gzip"
		}
		blob, _ := os.ReadFile(filepath.Join(dir, "blob"))
		if m.Digest != tartest.Sha(blob) {
			t.Errorf("%s: digest %s of a %d-byte blob", alg, m.Digest, len(blob))
		}
		plain := tartest.Decompress(t, blob, stored)
		if m.DiffID != tartest.Sha(plain) {
			t.Errorf("%s: diffID", alg)
		}
		tr := tar.NewReader(bytes.NewReader(plain))
		var got []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: rewritten tar: %v", alg, err)
			}
			s := h.Name
			if h.Linkname != "" {
				s += ">" + h.Linkname
			}
			if h.Name == long && h.PAXRecords["SCHILY.xattr.user.k"] != "v" {
				t.Errorf("%s: xattr lost: %v", alg, h.PAXRecords)
			}
			data, _ := io.ReadAll(tr)
			if h.Name == "ok" && string(data) != "kept" || h.Name == long && string(data) != "abc" {
				t.Errorf("%s: data of %s: %q", alg, h.Name, data)
			}
			got = append(got, s)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: entries\n%v\nwant\n%v", alg, got, want)
		}
	}

	// A canonical tar keeps its bytes under every algorithm.
	canon := makeTar(t, dirEntry("etc/"), file("etc/passwd", "root"), link(tar.TypeLink, "etc/hard", "etc/passwd"))
	var blob bytes.Buffer
	m, err := FromTar(bytes.NewReader(canon), &blob, compress.Options{Algorithm: "none", Level: -1}, TarRules{})
	if err != nil || !bytes.Equal(blob.Bytes(), canon) || m.DiffID != tartest.Sha(canon) {
		t.Errorf("canonical tar changed: %v", err)
	}

	// Without a way to start over, auto says what to do.
	_, err = FromTar(io.MultiReader(bytes.NewReader(in)), io.Discard, compress.Options{Algorithm: "auto"}, TarRules{})
	if err == nil || !strings.Contains(err.Error(), "set compress to gzip, zstd or none") {
		t.Errorf("auto on a stream: %v", err)
	}
}
