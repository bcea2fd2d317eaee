package structure

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid              int
}

// writeLayer writes a gzip layer of the entries and returns it.
func writeLayer(t *testing.T, dir, name string, entries ...tarEntry) Layer {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Uid: e.uid, Linkname: e.link}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return Layer{MediaType: oci.MediaTypeLayerGzip, Digest: oci.Digest(buf.Bytes()), Blob: p}
}

func testImage(t *testing.T, cc oci.ContainerConfig, layers ...Layer) Image {
	dir := t.TempDir()
	b, _ := json.Marshal(oci.ImageConfig{OS: "linux", Architecture: "amd64", Config: cc})
	p := filepath.Join(dir, "config.json")
	os.WriteFile(p, b, 0o644)
	return Image{Platform: "linux/amd64", Config: p, Layers: layers}
}

func parse(t *testing.T, y string) *Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte(y), 0o644)
	c, err := ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, img Image, y string) (bool, string) {
	t.Helper()
	var out bytes.Buffer
	ok, err := Run(&out, []Named{{Name: "c.yaml", Config: parse(t, y)}}, []Image{img})
	if err != nil {
		t.Fatal(err)
	}
	return ok, out.String()
}

func TestMetadata(t *testing.T) {
	img := testImage(t, oci.ContainerConfig{Env: []string{"PATH=/usr/bin", "MODE=prod"}, Entrypoint: []string{"/app"}, User: "65534",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}}, Labels: map[string]string{"v": "1.2.3"}, WorkingDir: "/srv"})
	ok, out := run(t, img, `
metadataTest:
  envVars: [{key: MODE, value: prod}, {key: PATH, value: "^/usr", isRegex: true}]
  labels: [{key: v, value: '1\.2\.\d', isRegex: true}]
  entrypoint: [/app]
  exposedPorts: ["8080"]
  workdir: /srv
  user: "65534"
`)
	if !ok || !strings.HasPrefix(out, "PASS [linux/amd64] c.yaml: metadataTest") {
		t.Errorf("want a pass:\n%s", out)
	}
	ok, out = run(t, img, `
metadataTest:
  env: [{key: MODE, value: dev}, {key: HOME, value: /root}]
  cmd: []
  volumes: [/data]
  user: root
`)
	for _, want := range []string{
		`FAIL [linux/amd64] c.yaml: metadataTest: env MODE: expected "dev", got "prod"`,
		`env HOME: expected "/root", but it is not set`,
		`volumes: expected /data, got none`,
		`user: expected "root", got "65534"`,
	} {
		if ok || !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cmd") {
		t.Errorf("cmd [] matches an unset cmd:\n%s", out)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	base := writeLayer(t, dir, "base",
		tarEntry{name: "usr/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "usr/bin/", typ: tar.TypeDir, mode: 0o755},
		tarEntry{name: "usr/bin/sh", body: "#!shell", mode: 0o755},
		tarEntry{name: "bin", typ: tar.TypeSymlink, link: "usr/bin"},
		tarEntry{name: "etc/gone", body: "old"},
		tarEntry{name: "opt/old/file", body: "old"},
		tarEntry{name: "etc/conf", body: "debug=true\n"})
	top := writeLayer(t, dir, "top",
		tarEntry{name: "etc/.wh.gone"},
		tarEntry{name: "opt/old/.wh..wh..opq"},
		tarEntry{name: "etc/conf", body: "debug=false\nport=80\n", uid: 1000},
		tarEntry{name: "etc/conf.copy", typ: tar.TypeLink, link: "etc/conf"},
		tarEntry{name: "etc/current", typ: tar.TypeSymlink, link: "conf"})
	img := testImage(t, oci.ContainerConfig{}, base, top)
	ok, out := run(t, img, `
fileExistenceTests:
- {name: sh through /bin, path: /bin/sh, shouldExist: true, permissions: -rwxr-xr-x, isExecutableBy: any}
- {name: whited out, path: /etc/gone, shouldExist: false}
- {name: opaque, path: /opt/old/file, shouldExist: false}
- {name: owner, path: /etc/conf, uid: 1000, gid: 0}
fileContentTests:
- {name: top wins, path: /etc/conf, expectedContents: ['debug=false', 'port=\d+'], excludedContents: ['debug=true']}
- {name: hardlink, path: /etc/conf.copy, expectedContents: ['port=80']}
- {name: symlink, path: /etc/current, expectedContents: ['port=80']}
`)
	if !ok || strings.Contains(out, "FAIL") {
		t.Errorf("want every test to pass:\n%s", out)
	}
	ok, out = run(t, img, `
fileExistenceTests:
- {name: missing, path: /nope}
- {name: mode, path: /etc/conf, permissions: -rwxr-xr-x, isExecutableBy: owner}
fileContentTests:
- {name: content, path: /etc/conf, expectedContents: ['debug=true']}
`)
	for _, want := range []string{
		`fileExistenceTests[0] "missing": /nope: expected to exist, but the image does not hold it`,
		`fileExistenceTests[1] "mode": /etc/conf: permissions: expected -rwxr-xr-x, got -rw-r--r--`,
		`/etc/conf: expected to be executable by owner`,
		`fileContentTests[0] "content": /etc/conf: expected content matching "debug=true", got "debug=false\nport=80\n"`,
	} {
		if ok || !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
}

// A layer without bytes (a base pulled shallowly) is read only when a path
// is not settled above it, and then the error says why.
func TestShallowLayers(t *testing.T) {
	dir := t.TempDir()
	top := writeLayer(t, dir, "top", tarEntry{name: "app", body: "x", mode: 0o755})
	img := testImage(t, oci.ContainerConfig{}, Layer{MediaType: oci.MediaTypeLayerGzip, Digest: "sha256:base"}, top)
	if ok, out := run(t, img, "fileExistenceTests: [{name: app, path: /app, isExecutableBy: other}]"); !ok {
		t.Errorf("the top layer settles /app:\n%s", out)
	}
	var out bytes.Buffer
	_, err := Run(&out, []Named{{Name: "c", Config: parse(t, "fileExistenceTests: [{name: sh, path: /bin/sh}]")}}, []Image{img})
	if err == nil || !strings.Contains(err.Error(), "/bin/sh is not settled by the layers above layer 0 (sha256:base), whose bytes are not here") {
		t.Errorf("err = %v", err)
	}
}

func TestCommandTestsFail(t *testing.T) {
	ok, out := run(t, testImage(t, oci.ContainerConfig{}), "commandTests: [{name: say hi, command: echo}]")
	if ok || !strings.Contains(out, `FAIL [linux/amd64] c.yaml: commandTests[0] "say hi": command tests run commands in a container`) {
		t.Errorf("want a failure naming the test:\n%s", out)
	}
}

// FuzzReadConfig: any config file is read or refused, never a panic.
func FuzzReadConfig(f *testing.F) {
	f.Add([]byte("metadataTest: {envVars: [{key: A, value: b}]}\nfileExistenceTests: [{name: x, path: /x}]\n"))
	f.Add([]byte(`{"fileContentTests": [{"name": "n", "path": "/p", "expectedContents": ["a("]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := ReadConfig(p)
		if err != nil {
			return
		}
		// A config that reads runs against an empty image, and every test in
		// it gets exactly one verdict: PASS, or FAIL lines naming it.
		var out bytes.Buffer
		ok, err := Run(&out, []Named{{Name: "c", Config: c}}, []Image{testImage(t, oci.ContainerConfig{})})
		if err != nil {
			return
		}
		var ids []string
		for i, x := range c.CommandTests {
			ids = append(ids, fmt.Sprintf("c: commandTests[%d] %q", i, x.Name))
		}
		for i, x := range c.LicenseTests {
			ids = append(ids, fmt.Sprintf("c: licenseTests[%d] %q", i, x.Name))
		}
		if c.MetadataTest != nil {
			ids = append(ids, "c: metadataTest")
		}
		for i, x := range c.FileExistenceTests {
			ids = append(ids, fmt.Sprintf("c: fileExistenceTests[%d] %q", i, x.Name))
		}
		for i, x := range c.FileContentTests {
			ids = append(ids, fmt.Sprintf("c: fileContentTests[%d] %q", i, x.Name))
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			lines = nil
		}
		failed := false
		at := 0
		for _, id := range ids {
			switch {
			case at < len(lines) && lines[at] == "PASS [linux/amd64] "+id:
				at++
			case at < len(lines) && strings.HasPrefix(lines[at], "FAIL [linux/amd64] "+id+": "):
				failed = true
				for at < len(lines) && strings.HasPrefix(lines[at], "FAIL [linux/amd64] "+id+": ") {
					at++
				}
			default:
				t.Fatalf("no verdict for %s; output:\n%s", id, out.String())
			}
		}
		if at != len(lines) {
			t.Fatalf("lines beyond the %d tests' verdicts:\n%s", len(ids), out.String())
		}
		if ok == failed {
			t.Fatalf("Run says ok=%v, but a test failed=%v:\n%s", ok, failed, out.String())
		}
	})
}
