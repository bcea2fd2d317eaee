package build

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"

	"github.com/rules-img/rules_img/pkg/oci"
)

// writeManifestDescriptor builds a fake image for p and returns its
// descriptor file.
func writeManifestDescriptor(t *testing.T, dir string, p oci.Platform, layer int) string {
	t.Helper()
	f := imageOut(dir, ImageFiles{Layers: writeMetas(t, dir, imagetest.FakeMeta(layer)), Platform: p})
	if err := WriteImage(f); err != nil {
		t.Fatal(err)
	}
	return f.Descriptor
}

func TestIndexShapeAndOrder(t *testing.T) {
	arm := writeManifestDescriptor(t, t.TempDir(), oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 1)
	amd := writeManifestDescriptor(t, t.TempDir(), imagetest.LinuxAmd64, 0)
	out := t.TempDir()
	f := IndexFiles{
		Target:      "//app:index",
		Manifests:   []string{arm, amd},
		Annotations: map[string]string{"z": "1", "a": "2"},
		Index:       filepath.Join(out, "index.json"),
		Descriptor:  filepath.Join(out, "descriptor.json"),
	}
	if err := WriteIndex(f); err != nil {
		t.Fatal(err)
	}
	b := imagetest.ReadFile(t, f.Index)
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "index", raw, "schemaVersion", "mediaType", "manifests", "annotations")
	var idx oci.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	armD, _ := oci.ReadDescriptor(arm)
	amdD, _ := oci.ReadDescriptor(amd)
	if idx.SchemaVersion != 2 || idx.MediaType != oci.MediaTypeIndex || len(idx.Manifests) != 2 ||
		idx.Manifests[0].Digest != armD.Digest || idx.Manifests[1].Digest != amdD.Digest {
		t.Fatalf("index = %s", b)
	}
	if p := idx.Manifests[0].Platform; p == nil || p.String() != "linux/arm64/v8" {
		t.Errorf("platform of entry 0 = %v", p)
	}
	wantPrefix := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + armD.Digest + `"`
	if string(b[:len(wantPrefix)]) != wantPrefix {
		t.Errorf("index starts %s", b[:len(wantPrefix)])
	}
	d, err := oci.ReadDescriptor(f.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != oci.Digest(b) || d.Size != int64(len(b)) || d.MediaType != oci.MediaTypeIndex || d.Platform != nil {
		t.Errorf("descriptor = %+v", d)
	}

	// Same inputs, same bytes.
	out2 := t.TempDir()
	f.Index, f.Descriptor = filepath.Join(out2, "index.json"), filepath.Join(out2, "descriptor.json")
	if err := WriteIndex(f); err != nil {
		t.Fatal(err)
	}
	if string(imagetest.ReadFile(t, f.Index)) != string(b) {
		t.Error("index bytes differ between identical runs")
	}
}

func TestIndexDuplicatePlatform(t *testing.T) {
	tests := []struct {
		name string
		a, b oci.Platform
		want string
	}{
		{"same", imagetest.LinuxAmd64, imagetest.LinuxAmd64, "linux/amd64"},
		{"arm64 v8 is the default variant", oci.Platform{OS: "linux", Architecture: "arm64"}, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "linux/arm64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := writeManifestDescriptor(t, t.TempDir(), tc.a, 0)
			b := writeManifestDescriptor(t, t.TempDir(), tc.b, 1)
			out := t.TempDir()
			err := WriteIndex(IndexFiles{Target: "//app:index", Manifests: []string{a, b},
				Index: filepath.Join(out, "i.json"), Descriptor: filepath.Join(out, "d.json")})
			imagetest.WantErr(t, err, "//app:index: ", a, b, "both for platform "+tc.want)
			if names := imagetest.DirNames(t, out); len(names) > 0 {
				t.Errorf("outputs left behind: %v", names)
			}
		})
	}
	// Different variants of arm are different platforms.
	a := writeManifestDescriptor(t, t.TempDir(), oci.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, 0)
	b := writeManifestDescriptor(t, t.TempDir(), oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, 1)
	out := t.TempDir()
	if err := WriteIndex(IndexFiles{Manifests: []string{a, b}, Index: filepath.Join(out, "i.json"), Descriptor: filepath.Join(out, "d.json")}); err != nil {
		t.Errorf("arm v6 and v7: %v", err)
	}
}

func TestIndexBadDescriptor(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	imagetest.WriteFile(t, bad, `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:xyz","size":3}`)
	layer := filepath.Join(dir, "layer.json")
	imagetest.WriteJSON(t, layer, oci.Descriptor{MediaType: oci.MediaTypeLayerGzip, Digest: imagetest.FakeMeta(0).Digest, Size: 3})
	for path, want := range map[string]string{bad: "sha256:xyz", layer: "is not a manifest or index"} {
		err := WriteIndex(IndexFiles{Target: "//x:y", Manifests: []string{path}, Index: filepath.Join(dir, "i"), Descriptor: filepath.Join(dir, "d")})
		imagetest.WantErr(t, err, "//x:y: ", path, want)
	}
}

// Index annotations take templates as a manifest's do: build settings
// always, the workspace status when stamping.
func TestIndexAnnotationTemplates(t *testing.T) {
	dir := t.TempDir()
	a := writeManifestDescriptor(t, dir, oci.Platform{OS: "linux", Architecture: "amd64"}, 0)
	status := filepath.Join(dir, "stable-status.txt")
	imagetest.WriteFile(t, status, "STABLE_REV abc\n")
	files := IndexFiles{
		Target:      "//x:index",
		Manifests:   []string{a},
		Annotations: map[string]string{"version": "{{.VERSION}}", "revision": "{{.STABLE_REV}}", "plain": "x"},
		Vars:        map[string]string{"VERSION": "1.2"},
		Index:       filepath.Join(dir, "i.json"),
		Descriptor:  filepath.Join(dir, "d.json"),
	}
	read := func() map[string]string {
		var index struct{ Annotations map[string]string }
		b, err := os.ReadFile(files.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &index); err != nil {
			t.Fatal(err)
		}
		return index.Annotations
	}
	if err := WriteIndex(files); err != nil {
		t.Fatal(err)
	}
	if got := read(); got["version"] != "1.2" || got["revision"] != "{{.STABLE_REV}}" || got["plain"] != "x" {
		t.Errorf("unstamped annotations %v", got)
	}
	files.Status = []string{status}
	if err := WriteIndex(files); err != nil {
		t.Fatal(err)
	}
	if got := read(); got["revision"] != "abc" {
		t.Errorf("stamped annotations %v", got)
	}
	files.Annotations = map[string]string{"x": "{{.NOPE}}"}
	imagetest.WantErr(t, WriteIndex(files), `//x:index: annotations["x"]: `, "neither build_settings nor the workspace status")
}

// A SOCI index is listed after every image, on its image's platform, and an
// empty SOCI descriptor (no layer got a ztoc) adds nothing.
func TestIndexSociEntries(t *testing.T) {
	dir := t.TempDir()
	arm := writeManifestDescriptor(t, t.TempDir(), oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, 1)
	amd := writeManifestDescriptor(t, t.TempDir(), imagetest.LinuxAmd64, 0)
	soci := filepath.Join(dir, "soci.json")
	d := oci.DescriptorFor(oci.MediaTypeManifest, []byte(`{"soci":1}`))
	b, _ := json.Marshal(d)
	if err := os.WriteFile(soci, b, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	f := IndexFiles{
		Manifests:   []string{arm, amd},
		SociIndexes: map[string]string{arm: soci, amd: empty},
		Index:       filepath.Join(out, "index.json"),
		Descriptor:  filepath.Join(out, "descriptor.json"),
	}
	if err := WriteIndex(f); err != nil {
		t.Fatal(err)
	}
	var idx oci.Index
	if err := json.Unmarshal(imagetest.ReadFile(t, f.Index), &idx); err != nil {
		t.Fatal(err)
	}
	armDesc, err := oci.ReadDescriptor(arm)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 3 {
		t.Fatalf("%d entries, want the two images and arm64's SOCI index", len(idx.Manifests))
	}
	e := idx.Manifests[2]
	if e.Digest != d.Digest || e.ArtifactType != "application/vnd.amazon.soci.index.v2+json" ||
		e.Annotations["com.amazon.soci.image-manifest-digest"] != armDesc.Digest || e.Platform == nil || !e.Platform.Same(*armDesc.Platform) {
		t.Errorf("SOCI entry %+v", e)
	}
}
