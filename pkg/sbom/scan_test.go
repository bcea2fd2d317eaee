package sbom

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

type entry struct {
	name, body string
	dir        bool
}

func layer(t *testing.T, entries ...entry) Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.dir {
			h = &tar.Header{Name: e.name, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Layer{MediaType: oci.MediaTypeLayer, Path: p}
}

const status = `Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc (2.36-9)
Version: 2.36-9+deb12u10
Description: GNU C Library
 continued line: not a field

Package: removed
Status: deinstall ok config-files
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b-0+deb12u1
`

func purls(inv *Inventory) []string {
	var out []string
	for _, p := range inv.Packages {
		out = append(out, p.PURL)
	}
	return out
}

func TestScan(t *testing.T) {
	osRelease := "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
	base := layer(t,
		entry{name: "usr/lib/os-release", body: osRelease},
		entry{name: "var/lib/dpkg/", dir: true},
		entry{name: "var/lib/dpkg/status", body: status},
		entry{name: "var/lib/dpkg/status.d/libssl3", body: "Package: libssl3\nVersion: 3.0.17-1~deb12u2\nArchitecture: amd64\nSource: openssl\n"},
		entry{name: "var/lib/dpkg/status.d/libssl3.md5sums", body: "0123  usr/lib/x86_64-linux-gnu/libssl.so.3\n"},
		entry{name: "usr/lib/python3/dist-packages/Foo_Bar-1.2.dist-info/METADATA", body: "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.2\n\nName: not-this\n"},
		entry{name: "opt/old/", dir: true},
		entry{name: "opt/old/gone.txt", body: "x"},
		entry{name: "etc/secret", body: "s"},
	)
	top := layer(t,
		entry{name: "opt/old/.wh..wh..opq"},
		entry{name: "etc/.wh.secret"},
		entry{name: "app/hello", body: "plain file"},
	)
	inv, err := Scan([]Layer{base, top})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(purls(inv), "\n")
	want := strings.Join([]string{
		"pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12&upstream=glibc",
		"pkg:deb/debian/libssl3@3.0.17-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
		"pkg:deb/debian/tzdata@2025b-0%2Bdeb12u1?arch=all&distro=debian-12",
		"pkg:pypi/foo-bar@1.2",
	}, "\n")
	if got != want {
		t.Errorf("purls:\n%s\nwant:\n%s", got, want)
	}
	var names []string
	for _, f := range inv.Files {
		names = append(names, f.Path)
	}
	if n := strings.Join(names, " "); strings.Contains(n, "opt/old/gone.txt") || strings.Contains(n, "etc/secret") || !strings.Contains(n, "app/hello") {
		t.Errorf("files after whiteouts: %s", n)
	}
	if inv.Distro != "debian-12" {
		t.Errorf("distro %q", inv.Distro)
	}
	// A later layer's status replaces the earlier one's packages.
	again, err := Scan([]Layer{base, layer(t, entry{name: "var/lib/dpkg/status", body: "Package: only\nVersion: 2\nStatus: install ok installed\n"})})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(purls(again), " "); strings.Contains(got, "libc6") || !strings.Contains(got, "pkg:deb/debian/only@2") {
		t.Errorf("after a new status file: %s", got)
	}
}

func TestGoBinary(t *testing.T) {
	// The test binary itself is a Go binary with module information.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Scan([]Layer{layer(t, entry{name: "app/bin", body: string(b)})})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(purls(inv), " ")
	if want := "pkg:golang/stdlib@" + strings.TrimPrefix(strings.Fields(runtime.Version())[0], "go"); !strings.Contains(got, want) {
		t.Errorf("Go binary packages: %s, want %s", got, want)
	}
	// go test records the main module; rules_go's test binaries record none.
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path != "" && !strings.Contains(got, "pkg:golang/"+bi.Main.Path) {
		t.Errorf("Go binary packages: %s, want the main module %s", got, bi.Main.Path)
	}
}

func TestDocumentsAreReproducible(t *testing.T) {
	inv, err := Scan([]Layer{layer(t, entry{name: "var/lib/dpkg/status", body: status}, entry{name: "a", body: "1"})})
	if err != nil {
		t.Fatal(err)
	}
	s := Subject{Name: "//app:image", Digest: "sha256:" + strings.Repeat("ab", 32), Created: "1970-01-01T00:00:00Z", Tool: "rules_img",
		Bases: []Base{{Registry: "index.docker.io", Repository: "library/debian", Digest: "sha256:" + strings.Repeat("cd", 32)}}}
	for _, write := range []func(Subject, *Inventory) ([]byte, error){SPDX, CycloneDX} {
		a, err := write(s, inv)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := write(s, inv)
		if !bytes.Equal(a, b) || !json.Valid(a) {
			t.Errorf("not the same valid JSON twice")
		}
		if !strings.Contains(string(a), "pkg:oci/debian@sha256%3A"+strings.Repeat("cd", 32)+"?repository_url=index.docker.io%2Flibrary%2Fdebian") {
			t.Errorf("the base is not named by digest:\n%s", a)
		}
	}
}
