package layout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"

	"github.com/rules-img/rules_img/pkg/build"
	"github.com/rules-img/rules_img/pkg/oci"
)

// realImage is an image built from real layer blobs, with every file the
// layout needs.
type realImage struct {
	Descriptor string   // descriptor file of the manifest
	Manifest   string   // manifest file
	Config     string   // config file
	Layers     []string // layer blob files
}

func (r realImage) blobs() []string {
	return append([]string{r.Manifest, r.Config}, r.Layers...)
}

func buildRealImage(t *testing.T, p oci.Platform, spec string, layers ...map[string]string) realImage {
	t.Helper()
	dir := t.TempDir()
	var img realImage
	var metas []string
	for i, files := range layers {
		l := imagetest.MakeLayer(t, dir, "layer"+string(rune('0'+i)), files)
		img.Layers = append(img.Layers, l.Blob)
		metas = append(metas, l.Metadata)
	}
	f := imageOut(dir, build.ImageFiles{Layers: metas, Spec: imagetest.WriteSpec(t, dir, spec), Platform: p})
	if err := build.WriteImage(f); err != nil {
		t.Fatal(err)
	}
	img.Descriptor, img.Manifest, img.Config = f.Descriptor, f.Manifest, f.Config
	return img
}

func TestLayoutWritesBlobsAndIndex(t *testing.T) {
	img := buildRealImage(t, imagetest.LinuxAmd64, `{"target":"//app:image","entrypoint":["/hello"]}`,
		map[string]string{"hello": "hi"}, map[string]string{"etc/x": "x"})
	out := filepath.Join(t.TempDir(), "layout")
	if err := os.Mkdir(out, 0o755); err != nil { // Bazel creates tree artifacts' directories
		t.Fatal(err)
	}
	// A blob listed twice is fine.
	blobs := append(img.blobs(), img.Layers[0])
	if err := Write(Files{Root: img.Descriptor, Blobs: blobs, Out: out, RefName: "app:latest"}); err != nil {
		t.Fatal(err)
	}
	if got := string(imagetest.ReadFile(t, filepath.Join(out, "oci-layout"))); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	root, _ := oci.ReadDescriptor(img.Descriptor)
	var idx oci.Index
	if err := json.Unmarshal(imagetest.ReadFile(t, filepath.Join(out, "index.json")), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != oci.MediaTypeIndex || len(idx.Manifests) != 1 {
		t.Fatalf("index.json = %+v", idx)
	}
	top := idx.Manifests[0]
	if top.Digest != root.Digest || top.Annotations[oci.AnnotationRefName] != "app:latest" || top.Platform == nil {
		t.Errorf("index.json entry = %+v", top)
	}
	var want []string
	for _, b := range img.blobs() {
		want = append(want, strings.TrimPrefix(oci.Digest(imagetest.ReadFile(t, b)), "sha256:"))
	}
	slices.Sort(want)
	if got := imagetest.DirNames(t, filepath.Join(out, "blobs", "sha256")); !slices.Equal(got, want) {
		t.Errorf("blobs = %v, want %v", got, want)
	}
	for _, b := range img.blobs() {
		stored := imagetest.ReadFile(t, filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(oci.Digest(imagetest.ReadFile(t, b)), "sha256:")))
		if string(stored) != string(imagetest.ReadFile(t, b)) {
			t.Errorf("blob of %s differs from its source", b)
		}
	}
}

func TestLayoutMissingBlob(t *testing.T) {
	img := buildRealImage(t, imagetest.LinuxAmd64, `{}`, map[string]string{"a": "a"}, map[string]string{"b": "b"})
	m, _ := oci.ReadLayerMetadata(filepath.Join(filepath.Dir(img.Manifest), "layer1.json"))
	out := t.TempDir()
	blobs := []string{img.Manifest, img.Config, img.Layers[0]} // layer 2 forgotten
	err := Write(Files{Root: img.Descriptor, Blobs: blobs, Out: out})
	imagetest.WantErr(t, err, "blob "+m.Digest, "layer 2 of manifest", "missing")
	if names := imagetest.DirNames(t, out); len(names) > 0 {
		t.Errorf("failed layout left %v behind", names)
	}

	// Without the config.
	imagetest.WantErr(t, Write(Files{Root: img.Descriptor, Blobs: []string{img.Manifest, img.Layers[0], img.Layers[1]}, Out: out}),
		"config of manifest", "missing")
	// Without the manifest itself.
	root, _ := oci.ReadDescriptor(img.Descriptor)
	imagetest.WantErr(t, Write(Files{Root: img.Descriptor, Blobs: []string{img.Config}, Out: out}), root.Digest, "the root descriptor")
}

func TestLayoutTamperedBlob(t *testing.T) {
	img := buildRealImage(t, imagetest.LinuxAmd64, `{}`, map[string]string{"a": "a"})
	tampered := filepath.Join(t.TempDir(), "layer.tar.gz")
	b := imagetest.ReadFile(t, img.Layers[0])
	b[len(b)-1] ^= 0xff
	imagetest.WriteFile(t, tampered, string(b))
	created := filepath.Join(t.TempDir(), "new")
	err := Write(Files{Root: img.Descriptor, Blobs: []string{img.Manifest, img.Config, tampered}, Out: created})
	imagetest.WantErr(t, err, "layer 1 of manifest", "no --blob file has that sha256")
	if _, statErr := os.Stat(created); !os.IsNotExist(statErr) {
		t.Errorf("a layout directory we created must be removed on failure: %v", statErr)
	}
}

func TestLayoutSizeMismatch(t *testing.T) {
	img := buildRealImage(t, imagetest.LinuxAmd64, `{}`, map[string]string{"a": "a"})
	root, _ := oci.ReadDescriptor(img.Descriptor)
	root.Size++
	wrong := filepath.Join(t.TempDir(), "root.json")
	imagetest.WriteJSON(t, wrong, root)
	err := Write(Files{Root: wrong, Blobs: img.blobs(), Out: t.TempDir()})
	imagetest.WantErr(t, err, "referenced with size", img.Manifest)
}

func TestLayoutWrongMediaType(t *testing.T) {
	img := buildRealImage(t, imagetest.LinuxAmd64, `{}`, map[string]string{"a": "a"})
	root, _ := oci.ReadDescriptor(img.Descriptor)
	root.MediaType = oci.MediaTypeIndex
	wrong := filepath.Join(t.TempDir(), "root.json")
	imagetest.WriteJSON(t, wrong, root)
	imagetest.WantErr(t, Write(Files{Root: wrong, Blobs: img.blobs(), Out: t.TempDir()}), "says it is "+string(oci.MediaTypeManifest))
}

func TestLayoutNonEmptyDir(t *testing.T) {
	img := buildRealImage(t, imagetest.LinuxAmd64, `{}`, map[string]string{"a": "a"})
	out := t.TempDir()
	imagetest.WriteFile(t, filepath.Join(out, "keep"), "x")
	imagetest.WantErr(t, Write(Files{Root: img.Descriptor, Blobs: img.blobs(), Out: out}), "not empty")
	if names := imagetest.DirNames(t, out); !slices.Equal(names, []string{"keep"}) {
		t.Errorf("someone else's file was touched: %v", names)
	}
}

func TestLayoutIndexCompleteness(t *testing.T) {
	amd := buildRealImage(t, imagetest.LinuxAmd64, `{}`, map[string]string{"a": "amd"})
	arm := buildRealImage(t, oci.Platform{OS: "linux", Architecture: "arm64"}, `{}`, map[string]string{"a": "arm"})
	dir := t.TempDir()
	f := build.IndexFiles{Manifests: []string{amd.Descriptor, arm.Descriptor}, Index: filepath.Join(dir, "index.json"), Descriptor: filepath.Join(dir, "desc.json")}
	if err := build.WriteIndex(f); err != nil {
		t.Fatal(err)
	}
	blobs := append(append([]string{f.Index}, amd.blobs()...), arm.Manifest, arm.Config) // arm layer missing
	armLayer := oci.Digest(imagetest.ReadFile(t, arm.Layers[0]))
	armManifest := oci.Digest(imagetest.ReadFile(t, arm.Manifest))
	imagetest.WantErr(t, Write(Files{Root: f.Descriptor, Blobs: blobs, Out: t.TempDir()}),
		"blob "+armLayer, "layer 1 of manifest "+armManifest)
	blobs = append(blobs, arm.Layers[0])
	if err := Write(Files{Root: f.Descriptor, Blobs: blobs, Out: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
}
