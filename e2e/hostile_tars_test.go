//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// hostileTars are the tars under e2e/workspace/hostile, made here so a
// reader sees what each holds. Regenerate with UPDATE_HOSTILE_TARS=1.
func hostileTars(t *testing.T) map[string][]byte {
	file := func(name, data string) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatPAX}
	}
	mk := func(gz bool, entries ...tar.Header) []byte {
		var b bytes.Buffer
		w := tar.NewWriter(&b)
		for _, h := range entries {
			if err := w.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			w.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
		w.Close()
		if !gz {
			return b.Bytes()
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(b.Bytes())
		zw.Close()
		return z.Bytes()
	}
	link := func(kind byte, name, target string) tar.Header {
		return tar.Header{Name: name, Typeflag: kind, Linkname: target, Mode: 0o777, Format: tar.FormatPAX}
	}
	dev := func(kind byte, name string) tar.Header {
		return tar.Header{Name: name, Typeflag: kind, Mode: 0o666, Devmajor: 1, Devminor: 3, Format: tar.FormatPAX}
	}
	ok := file("app/ok.txt", "fine")
	canonical := mk(true, tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX},
		tar.Header{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX},
		file("/etc/motd", "hello"), file("./etc/issue", "issue"), link(tar.TypeLink, "./etc/motd.hard", "/etc/motd"))
	truncated := mk(true, ok, file("app/big.bin", string(bytes.Repeat([]byte{1}, 40000))))
	return map[string][]byte{
		"traversal.tar.gz":      mk(true, ok, file("../../etc/evil", "evil")),
		"symlink_escape.tar":    mk(false, link(tar.TypeSymlink, "etc2", "/etc"), file("etc2/passwd", "root::0:0::/:/bin/sh")),
		"dangling_hardlink.tar": mk(false, ok, link(tar.TypeLink, "a/b", "does/not/exist")),
		"duplicate.tar":         mk(false, file("a", "one"), file("a", "second")),
		"device.tar":            mk(false, ok, dev(tar.TypeChar, "dev/null2")),
		"unknown_type.tar":      mk(false, ok, dev('V', "volume-label")),
		"global_header.tar": mk(false, tar.Header{Name: "pax_global_header", Typeflag: tar.TypeXGlobalHeader,
			PAXRecords: map[string]string{"path": "../../etc/evil"}, Format: tar.FormatPAX}, ok),
		"vendor.tar":       mk(false, ok, link(tar.TypeLink, "a/b", "does/not/exist"), dev('V', "volume-label"), file("a", "1"), file("a", "2")),
		"canonical.tar.gz": canonical,
		"truncated.tar.gz": truncated[:len(truncated)/2],
		"not_a_tar.tar":    []byte("this file is a README, not a tar archive; someone renamed it\n"),
		"empty.tar":        {},
	}
}

// The checked-in tars are the ones hostileTars makes.
func TestHostileTarsCheckedIn(t *testing.T) {
	dir := filepath.Join(harness.RepoRoot(), "e2e", "workspace", "hostile")
	for name, want := range hostileTars(t) {
		p := filepath.Join(dir, name)
		if os.Getenv("UPDATE_HOSTILE_TARS") != "" {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s differs from what hostileTars makes (%v): run UPDATE_HOSTILE_TARS=1 go test -tags e2e -run TestHostileTarsCheckedIn ./e2e", name, err)
		}
	}
}
