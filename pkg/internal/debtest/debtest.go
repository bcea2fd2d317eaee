// Package debtest writes small Debian and RPM packages for tests.
package debtest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

// Entry is one data.tar entry: a directory (name ends in "/"), a symlink
// (Link set), a hardlink (Hardlink set) or a file with Body.
type Entry struct {
	Name     string
	Mode     int64
	Uid, Gid int
	Body     string
	Link     string
	Hardlink string
}

func tarOf(t *testing.T, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, Uid: e.Uid, Gid: e.Gid, Uname: "root", Gname: "root"}
		switch {
		case e.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
		case e.Hardlink != "":
			h.Typeflag, h.Linkname = tar.TypeLink, e.Hardlink
		case len(e.Name) > 0 && e.Name[len(e.Name)-1] == '/':
			h.Typeflag = tar.TypeDir
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.Body))
		}
	}
	tw.Close()
	return b.Bytes()
}

func xzOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func gzOf(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

func arMember(b *bytes.Buffer, name string, body []byte) {
	fmt.Fprintf(b, "%-16s%-12d%-6d%-6d%-8o%-10d`\n", name, 0, 0, 0, 0o644, len(body))
	b.Write(body)
	if len(body)%2 == 1 {
		b.WriteByte('\n')
	}
}

// Write writes dir/name.deb: control.tar.gz with control and md5sums,
// data.tar.xz with entries, as dpkg-deb builds them.
func Write(t *testing.T, dir, name, control, md5sums string, entries []Entry) string {
	t.Helper()
	controlTar := tarOf(t, []Entry{{Name: "./", Mode: 0o755}, {Name: "./control", Mode: 0o644, Body: control}, {Name: "./md5sums", Mode: 0o644, Body: md5sums}})
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	arMember(&b, "debian-binary", []byte("2.0\n"))
	arMember(&b, "control.tar.gz", gzOf(controlTar))
	arMember(&b, "data.tar.xz", xzOf(t, tarOf(t, entries)))
	p := filepath.Join(dir, name+".deb")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// RPMFile is one file of a test RPM.
type RPMFile struct {
	Name string // like "./etc/pki/ca-trust/source/anchors/a.pem"
	Body string
}

// WriteRPM writes dir/name.rpm: a lead, an empty signature, a header naming
// a gzip cpio payload, and that payload, as rpmbuild lays them out.
func WriteRPM(t *testing.T, dir, name string, files []RPMFile) string {
	t.Helper()
	var b bytes.Buffer
	lead := make([]byte, 96)
	copy(lead, []byte{0xed, 0xab, 0xee, 0xdb, 3, 0})
	b.Write(lead)
	// The signature: no entries (16 bytes, already 8-aligned).
	b.Write([]byte{0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	store := []byte("gzip\x00")
	b.Write([]byte{0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, byte(len(store))})
	b.Write([]byte{0, 0, 0x04, 0x65, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1}) // 1125, STRING, offset 0, count 1
	b.Write(store)
	var cpio bytes.Buffer
	entry := func(name string, mode int64, body string) {
		fmt.Fprintf(&cpio, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x", 0, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name)+1, 0)
		cpio.WriteString(name + "\x00")
		for cpio.Len()%4 != 0 {
			cpio.WriteByte(0)
		}
		cpio.WriteString(body)
		for cpio.Len()%4 != 0 {
			cpio.WriteByte(0)
		}
	}
	for _, f := range files {
		entry(f.Name, 0o100644, f.Body)
	}
	entry("TRAILER!!!", 0, "")
	b.Write(gzOf(cpio.Bytes()))
	p := filepath.Join(dir, name+".rpm")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
