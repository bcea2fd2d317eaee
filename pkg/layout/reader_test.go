package layout

// These tests read our layouts back with independent implementations:
// go-containerregistry's layout reader and validator, and skopeo.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/rules-img/rules_img/pkg/build"
	"github.com/rules-img/rules_img/pkg/oci"
)

// singleImageLayout builds layer → manifest → layout and returns the layout
// directory and the image.
func singleImageLayout(t *testing.T, refName string) (string, realImage) {
	t.Helper()
	img := buildRealImage(t, imagetest.LinuxAmd64,
		`{"target":"//app:image","entrypoint":["/app/hello"],"env":{"PATH":"/app"},"exposed_ports":["8080"],"labels":{"k":"v"}}`,
		map[string]string{"app/hello": "#!/bin/sh\necho hi\n"}, map[string]string{"etc/motd": "hello\n"})
	out := filepath.Join(t.TempDir(), "layout")
	if err := Write(Files{Root: img.Descriptor, Blobs: img.blobs(), Out: out, RefName: refName}); err != nil {
		t.Fatal(err)
	}
	return out, img
}

// multiArchLayout builds two images, an index over them and a layout.
func multiArchLayout(t *testing.T) (string, string) {
	t.Helper()
	amd := buildRealImage(t, imagetest.LinuxAmd64, `{"target":"//app:amd"}`, map[string]string{"arch": "amd64"})
	arm := buildRealImage(t, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, `{"target":"//app:arm"}`, map[string]string{"arch": "arm64"})
	dir := t.TempDir()
	f := build.IndexFiles{Manifests: []string{amd.Descriptor, arm.Descriptor}, Index: filepath.Join(dir, "index.json"), Descriptor: filepath.Join(dir, "desc.json")}
	if err := build.WriteIndex(f); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "layout")
	blobs := append(append([]string{f.Index}, amd.blobs()...), arm.blobs()...)
	if err := Write(Files{Root: f.Descriptor, Blobs: blobs, Out: out, RefName: "latest"}); err != nil {
		t.Fatal(err)
	}
	return out, f.Index
}

func TestLayoutReadByGGCRImage(t *testing.T) {
	out, img := singleImageLayout(t, "latest")
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations[oci.AnnotationRefName] != "latest" {
		t.Fatalf("index.json as ggcr reads it: %+v", im)
	}
	image, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	// Full validation: decompresses each layer and checks digests, diff_ids,
	// sizes and media types against manifest and config.
	if err := validate.Image(image); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	raw, err := image.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, imagetest.ReadFile(t, img.Manifest)) {
		t.Error("manifest in the layout differs from the one img manifest wrote")
	}
	cf, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/app/hello"}) || cf.Config.Labels["k"] != "v" || len(cf.RootFS.DiffIDs) != 2 || len(cf.History) != 2 {
		t.Errorf("config as ggcr reads it: %+v", cf)
	}
	if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts = %v", cf.Config.ExposedPorts)
	}
}

func TestLayoutReadByGGCRIndex(t *testing.T) {
	out, indexFile := multiArchLayout(t)
	top, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json: %+v", im)
	}
	child, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(child); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	raw, err := child.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, imagetest.ReadFile(t, indexFile)) {
		t.Error("index in the layout differs from the one img index wrote")
	}
	cm, err := child.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, m := range cm.Manifests {
		platforms = append(platforms, m.Platform.String())
	}
	if want := []string{"linux/amd64", "linux/arm64/v8"}; !slices.Equal(platforms, want) {
		t.Errorf("platforms = %v, want %v", platforms, want)
	}
	// Each child's config agrees with the platform the index gives it.
	for _, m := range cm.Manifests {
		img, err := child.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := (v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}); !got.Equals(*m.Platform) {
			t.Errorf("config platform %v != index platform %v", got, m.Platform)
		}
	}
}

const skopeoPath = "/usr/bin/skopeo"

func skopeo(t *testing.T, args ...string) []byte {
	t.Helper()
	if _, err := os.Stat(skopeoPath); err != nil {
		t.Skipf("skopeo is not installed at %s (tools/setup.sh installs it); skipping the skopeo check", skopeoPath)
	}
	cmd := exec.Command(skopeoPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// layoutRootDigest reads a layout's index.json as written by anyone.
func layoutRootDigest(t *testing.T, dir string) string {
	t.Helper()
	var idx oci.Index
	if err := json.Unmarshal(imagetest.ReadFile(t, filepath.Join(dir, "index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("%s/index.json has %d entries", dir, len(idx.Manifests))
	}
	return idx.Manifests[0].Digest
}

func TestLayoutSkopeoImage(t *testing.T) {
	out, img := singleImageLayout(t, "latest")
	raw := skopeo(t, "inspect", "--raw", "oci:"+out+":latest")
	if !bytes.Equal(raw, imagetest.ReadFile(t, img.Manifest)) {
		t.Errorf("skopeo inspect --raw:\n%s\nwant\n%s", raw, imagetest.ReadFile(t, img.Manifest))
	}
	// Without a reference: the layout holds one image.
	if raw := skopeo(t, "inspect", "--raw", "oci:"+out); !bytes.Equal(raw, imagetest.ReadFile(t, img.Manifest)) {
		t.Errorf("skopeo inspect --raw without reference differs")
	}
	copied := filepath.Join(t.TempDir(), "copy")
	skopeo(t, "--insecure-policy", "copy", "--quiet", "oci:"+out+":latest", "oci:"+copied+":latest")
	if got, want := layoutRootDigest(t, copied), oci.Digest(imagetest.ReadFile(t, img.Manifest)); got != want {
		t.Errorf("skopeo copy changed the manifest digest: %s, want %s", got, want)
	}
}

func TestLayoutSkopeoIndex(t *testing.T) {
	out, indexFile := multiArchLayout(t)
	raw := skopeo(t, "inspect", "--raw", "oci:"+out+":latest")
	if !bytes.Equal(raw, imagetest.ReadFile(t, indexFile)) {
		t.Errorf("skopeo inspect --raw:\n%s\nwant\n%s", raw, imagetest.ReadFile(t, indexFile))
	}
	copied := filepath.Join(t.TempDir(), "copy")
	skopeo(t, "--insecure-policy", "copy", "--quiet", "--all", "oci:"+out+":latest", "oci:"+copied+":latest")
	if got, want := layoutRootDigest(t, copied), oci.Digest(imagetest.ReadFile(t, indexFile)); got != want {
		t.Errorf("skopeo copy --all changed the index digest: %s, want %s", got, want)
	}
	// skopeo picks the arm64 image out of the index by platform.
	var cfg oci.ImageConfig
	if err := json.Unmarshal(skopeo(t, "--override-arch", "arm64", "inspect", "--config", "oci:"+out+":latest"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" || cfg.Variant != "v8" {
		t.Errorf("skopeo chose %s/%s/%s for arm64", cfg.OS, cfg.Architecture, cfg.Variant)
	}
}
