package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

// ociLayerFixture writes a blob and layer metadata for it. The layout and
// manifest commands never decompress layers, so any bytes will do.
func ociLayerFixture(t *testing.T, dir, name, content string) (blob, meta string, m oci.LayerMetadata) {
	t.Helper()
	blob = filepath.Join(dir, name+".tar.gz")
	meta = filepath.Join(dir, name+".json")
	m = oci.LayerMetadata{MediaType: oci.MediaTypeLayerGzip, Digest: oci.Digest([]byte(content)), Size: int64(len(content)), DiffID: oci.Digest([]byte("diff " + content))}
	mustWrite(t, blob, []byte(content))
	b, _ := json.Marshal(m)
	mustWrite(t, meta, b)
	return blob, meta, m
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func errContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

type builtImage struct {
	manifest, config, descriptor string
	blobs                        []string
	layers                       []oci.LayerMetadata
}

func runManifestCmd(t *testing.T, arch, variant string) builtImage {
	t.Helper()
	dir := t.TempDir()
	b1, m1, l1 := ociLayerFixture(t, dir, "one", "first layer "+arch)
	b2, m2, l2 := ociLayerFixture(t, dir, "two", "second layer "+arch)
	spec := filepath.Join(dir, "spec.json")
	mustWrite(t, spec, []byte(`{"target":"//app:image","cmd":["run"]}`))
	img := builtImage{
		manifest:   filepath.Join(dir, "m.json"),
		config:     filepath.Join(dir, "c.json"),
		descriptor: filepath.Join(dir, "d.json"),
		layers:     []oci.LayerMetadata{l1, l2},
	}
	args := []string{"--layer", m1, "--layer", m2, "--config-spec", spec, "--os", "linux", "--arch", arch,
		"--manifest", img.manifest, "--config", img.config, "--descriptor", img.descriptor}
	if variant != "" {
		args = append(args, "--variant", variant)
	}
	if err := manifestMain(args); err != nil {
		t.Fatal(err)
	}
	img.blobs = []string{img.manifest, img.config, b1, b2}
	return img
}

func TestManifestCmdLayerOrder(t *testing.T) {
	img := runManifestCmd(t, "amd64", "")
	var m oci.Manifest
	b, _ := os.ReadFile(img.manifest)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 2 || m.Layers[0].Digest != img.layers[0].Digest || m.Layers[1].Digest != img.layers[1].Digest {
		t.Errorf("layers = %+v, want the --layer order", m.Layers)
	}
	d, err := oci.ReadDescriptor(img.descriptor)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != oci.Digest(b) || d.Platform == nil || d.Platform.String() != "linux/amd64" {
		t.Errorf("descriptor = %+v", d)
	}
}

func TestManifestCmdFlagErrors(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.json")
	mustWrite(t, spec, []byte(`{"target":"//app:image"}`))
	out := []string{"--manifest", filepath.Join(dir, "m"), "--config", filepath.Join(dir, "c"), "--descriptor", filepath.Join(dir, "d")}
	errContains(t, manifestMain(append([]string{"--config-spec", spec, "--os", "linux"}, out...)), "--arch is required")
	errContains(t, manifestMain(append([]string{"--config-spec", spec, "--os", "linux", "--arch", "amd64", "stray"}, out...)), `unexpected argument "stray"`)
	errContains(t, manifestMain(append([]string{"--config-spec", spec, "--os", "linux", "--arch", "aarch64"}, out...)),
		`//app:image: unknown platform "linux/aarch64": use one of linux/amd64, linux/arm64`)
	errContains(t, manifestMain([]string{"--bogus"}), "bogus")
}

func TestIndexCmdAndLayoutCmd(t *testing.T) {
	amd := runManifestCmd(t, "amd64", "")
	arm := runManifestCmd(t, "arm64", "v8")
	dir := t.TempDir()
	index, desc := filepath.Join(dir, "index.json"), filepath.Join(dir, "index_desc.json")
	err := indexMain([]string{"--manifest-descriptor", amd.descriptor, "--manifest-descriptor", arm.descriptor,
		"--annotation", "org.opencontainers.image.source=https://example.com/x=y", "--target", "//app:index",
		"--index", index, "--descriptor", desc})
	if err != nil {
		t.Fatal(err)
	}
	var idx oci.Index
	ib, _ := os.ReadFile(index)
	if err := json.Unmarshal(ib, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 2 || idx.Manifests[1].Platform.String() != "linux/arm64/v8" ||
		idx.Annotations["org.opencontainers.image.source"] != "https://example.com/x=y" {
		t.Errorf("index = %s", ib)
	}

	out := filepath.Join(t.TempDir(), "layout")
	blobs := append(append([]string{index}, amd.blobs...), arm.blobs...)
	args := []string{"--root", desc, "--out", out, "--ref-name", "v1"}
	for _, b := range blobs {
		args = append(args, "--blob", b)
	}
	if err := layoutMain(args); err != nil {
		t.Fatal(err)
	}
	var top oci.Index
	tb, err := os.ReadFile(filepath.Join(out, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(tb, &top); err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].Digest != oci.Digest(ib) || top.Manifests[0].Annotations[oci.AnnotationRefName] != "v1" {
		t.Errorf("layout index.json = %s", tb)
	}
	if _, err := os.Stat(filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(arm.layers[1].Digest, "sha256:"))); err != nil {
		t.Errorf("arm layer not in the layout: %v", err)
	}

	// One blob short: the layout names what is missing and leaves nothing.
	out2 := filepath.Join(t.TempDir(), "layout")
	args = []string{"--root", desc, "--out", out2}
	for _, b := range blobs[:len(blobs)-1] {
		args = append(args, "--blob", b)
	}
	errContains(t, layoutMain(args), arm.layers[1].Digest, "missing")
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("failed layout left %s behind", out2)
	}
}

func TestIndexCmdErrors(t *testing.T) {
	a := runManifestCmd(t, "amd64", "")
	b := runManifestCmd(t, "amd64", "")
	dir := t.TempDir()
	outs := []string{"--index", filepath.Join(dir, "i"), "--descriptor", filepath.Join(dir, "d")}
	errContains(t, indexMain(append([]string{"--target", "//app:index", "--manifest-descriptor", a.descriptor, "--manifest-descriptor", b.descriptor}, outs...)),
		"//app:index: ", a.descriptor, b.descriptor, "platform linux/amd64")
	errContains(t, indexMain(append([]string{"--annotation", "novalue"}, outs...)), "KEY=VALUE")
	errContains(t, indexMain(append([]string{"--annotation", "k=1", "--annotation", "k=2"}, outs...)), `"k" given twice`)
	errContains(t, indexMain([]string{"--index", "x"}), "--descriptor is required")
}

func TestLayoutCmdFlagErrors(t *testing.T) {
	errContains(t, layoutMain([]string{"--out", t.TempDir()}), "--root is required")
	errContains(t, layoutMain([]string{"--root", filepath.Join(t.TempDir(), "none.json"), "--out", t.TempDir()}), "none.json")
}
