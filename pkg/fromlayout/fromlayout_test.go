package fromlayout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

type testLayout struct {
	dir string
	t   testing.TB
}

func (l testLayout) blob(b []byte, mediaType oci.MediaType) oci.Descriptor {
	d := oci.DescriptorFor(mediaType, b)
	p := filepath.Join(l.dir, "blobs", "sha256", strings.TrimPrefix(d.Digest, "sha256:"))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		l.t.Fatal(err)
	}
	return d
}

func (l testLayout) json(v any, mediaType oci.MediaType) oci.Descriptor {
	b, err := json.Marshal(v)
	if err != nil {
		l.t.Fatal(err)
	}
	return l.blob(b, mediaType)
}

// image stores an image of one layer for os/arch and returns its manifest
// descriptor (with the platform set).
func (l testLayout) image(arch, content string) oci.Descriptor {
	layer := l.blob([]byte("layer bytes "+content), oci.MediaTypeLayerGzip)
	diffID := oci.Digest([]byte("tar " + content))
	cfg := l.json(oci.ImageConfig{OS: "linux", Architecture: arch, RootFS: oci.RootFS{Type: "layers", DiffIDs: []string{diffID}}}, oci.MediaTypeConfig)
	m := l.json(oci.Manifest{SchemaVersion: 2, MediaType: oci.MediaTypeManifest, Config: cfg, Layers: []oci.Descriptor{layer}}, oci.MediaTypeManifest)
	m.Platform = &oci.Platform{OS: "linux", Architecture: arch}
	return m
}

func newLayout(t testing.TB) testLayout { return testLayout{dir: t.TempDir(), t: t} }

func (l testLayout) finish(top ...oci.Descriptor) {
	if err := os.WriteFile(filepath.Join(l.dir, "oci-layout"), []byte(`{"imageLayoutVersion": "1.0.0"}`), 0o644); err != nil {
		l.t.Fatal(err)
	}
	b, _ := json.Marshal(oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: top})
	if err := os.WriteFile(filepath.Join(l.dir, "index.json"), b, 0o644); err != nil {
		l.t.Fatal(err)
	}
}

func imageSpec(out, platform string, layers int) Image {
	base := strings.ReplaceAll(platform, "/", "_")
	im := Image{Platform: platform, Manifest: filepath.Join(out, base+".manifest"), Config: filepath.Join(out, base+".config"),
		Descriptor: filepath.Join(out, base+".desc")}
	for i := range layers {
		n := filepath.Join(out, base+".layer"+string(rune('0'+i)))
		im.Layers = append(im.Layers, Layer{MediaType: oci.MediaTypeLayerGzip, Metadata: n + ".json", Blob: n})
	}
	return im
}

func readDesc(t *testing.T, path string) oci.Descriptor {
	t.Helper()
	d, err := oci.ReadDescriptor(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// A single image whose index.json entry has no platform: the config gives
// it; the manifest is kept byte for byte and the layer's metadata comes from
// the manifest and config.
func TestSingleImage(t *testing.T) {
	l := newLayout(t)
	m := l.image("arm64", "a")
	m.Platform = nil
	l.finish(m)
	out := t.TempDir()
	im := imageSpec(out, "linux/arm64/v8", 1)
	if err := Convert(&Spec{Target: "//t", Layout: l.dir, Images: []Image{im}}); err != nil {
		t.Fatal(err)
	}
	if d := readDesc(t, im.Descriptor); d.Digest != m.Digest || d.Platform == nil || d.Platform.Architecture != "arm64" {
		t.Errorf("descriptor %+v, want %s for linux/arm64", d, m.Digest)
	}
	mb, _ := os.ReadFile(im.Manifest)
	if oci.Digest(mb) != m.Digest {
		t.Errorf("manifest bytes changed")
	}
	md, err := oci.ReadLayerMetadata(im.Layers[0].Metadata)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := os.ReadFile(im.Layers[0].Blob)
	if md.DiffID != oci.Digest([]byte("tar a")) || md.Digest != oci.Digest(blob) || string(blob) != "layer bytes a" {
		t.Errorf("layer: %+v, blob %q", md, blob)
	}
}

func TestIndexKeptOrRebuilt(t *testing.T) {
	l := newLayout(t)
	amd, arm := l.image("amd64", "x"), l.image("arm64", "y")
	inner := l.json(oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: []oci.Descriptor{amd, arm}}, oci.MediaTypeIndex)
	top := inner
	top.Annotations = map[string]string{"org.opencontainers.image.ref.name": "latest"}
	l.finish(top)

	out := t.TempDir()
	s := &Spec{Target: "//t", Layout: l.dir, Images: []Image{imageSpec(out, "linux/amd64", 1), imageSpec(out, "linux/arm64", 1)},
		Index: filepath.Join(out, "index.json"), IndexDescriptor: filepath.Join(out, "index.desc")}
	if err := Convert(s); err != nil {
		t.Fatal(err)
	}
	if d := readDesc(t, s.IndexDescriptor); d.Digest != inner.Digest || d.Annotations != nil {
		t.Errorf("all platforms in order: index %+v, want the layout's %s", d, inner.Digest)
	}

	out = t.TempDir()
	s = &Spec{Target: "//t", Layout: l.dir, Images: []Image{imageSpec(out, "linux/arm64", 1)},
		Index: filepath.Join(out, "index.json"), IndexDescriptor: filepath.Join(out, "index.desc")}
	if err := Convert(s); err != nil {
		t.Fatal(err)
	}
	var idx oci.Index
	b, _ := os.ReadFile(s.Index)
	json.Unmarshal(b, &idx)
	if d := readDesc(t, s.IndexDescriptor); d.Digest == inner.Digest || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != arm.Digest {
		t.Errorf("one platform: index %s listing %+v, want a new index of the arm64 image", d.Digest, idx.Manifests)
	}
}

// Errors name the target and the layout, and leave no output behind.
func TestErrorsLeaveNothing(t *testing.T) {
	l := newLayout(t)
	m := l.image("amd64", "z")
	l.finish(m)
	var mf oci.Manifest
	b, _ := os.ReadFile(filepath.Join(l.dir, "blobs", "sha256", strings.TrimPrefix(m.Digest, "sha256:")))
	json.Unmarshal(b, &mf)

	for _, tc := range []struct {
		name    string
		images  []Image
		corrupt bool
		want    string
	}{
		{"count", []Image{imageSpec("OUT", "linux/amd64", 2)}, false, `layers lists 2 media types, but the image has 1 layers: set layers = ["application/vnd.oci.image.layer.v1.tar+gzip"]`},
		{"platform", []Image{imageSpec("OUT", "linux/s390x", 1)}, false, "the layout has no image for linux/s390x; it has linux/amd64"},
		{"corrupt", []Image{imageSpec("OUT", "linux/amd64", 1)}, true, "the layout is corrupt"},
	} {
		out := t.TempDir()
		for i := range tc.images {
			im := &tc.images[i]
			im.Manifest, im.Config, im.Descriptor = strings.Replace(im.Manifest, "OUT", out, 1), strings.Replace(im.Config, "OUT", out, 1), strings.Replace(im.Descriptor, "OUT", out, 1)
			for j := range im.Layers {
				im.Layers[j].Blob = strings.Replace(im.Layers[j].Blob, "OUT", out, 1)
				im.Layers[j].Metadata = strings.Replace(im.Layers[j].Metadata, "OUT", out, 1)
			}
		}
		layerPath := filepath.Join(l.dir, "blobs", "sha256", strings.TrimPrefix(mf.Layers[0].Digest, "sha256:"))
		if tc.corrupt {
			os.WriteFile(layerPath, []byte("layer bytes Z"), 0o644)
		}
		err := Convert(&Spec{Target: "//t:x", Layout: l.dir, Images: tc.images})
		if err == nil || !strings.HasPrefix(err.Error(), "//t:x: OCI layout "+l.dir+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q after the target and layout", tc.name, err, tc.want)
		}
		if left, _ := os.ReadDir(out); len(left) != 0 {
			t.Errorf("%s: left %d files behind", tc.name, len(left))
		}
		if tc.corrupt {
			os.WriteFile(layerPath, []byte("layer bytes z"), 0o644)
		}
	}
}

// FuzzLayoutIndex: any index.json is listed or refused, never a panic.
func FuzzLayoutIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:00", "size": 2}]}`))
	f.Add([]byte(`{"manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:../../x", "size": -1}]}`))
	// The fixture's own index, so the fuzzer starts from one that lists.
	m := newLayout(f).image("amd64", "f")
	good, _ := json.Marshal(oci.Index{SchemaVersion: 2, Manifests: []oci.Descriptor{m}})
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		l := newLayout(t)
		l.image("amd64", "f")
		l.finish()
		if err := os.WriteFile(filepath.Join(l.dir, "index.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		stored, err := List(l.dir)
		if err != nil {
			return
		}
		// What a listing names is a file under blobs/, and a config whose
		// bytes were checked against its digest, whatever index.json says.
		blobs := filepath.Join(l.dir, "blobs") + string(filepath.Separator)
		for _, s := range stored {
			b, err := os.ReadFile(s.Config)
			if err != nil || !strings.HasPrefix(s.Config, blobs) {
				t.Fatalf("config %s: %v", s.Config, err)
			}
			if got := oci.Digest(b); filepath.Base(s.Config) != strings.TrimPrefix(got, "sha256:") {
				t.Fatalf("config %s holds %s", s.Config, got)
			}
			for _, ly := range s.Layers {
				if _, err := os.Stat(ly.Blob); err != nil || !strings.HasPrefix(ly.Blob, blobs) || ly.Descriptor.Size < 0 {
					t.Fatalf("layer %+v: %v", ly, err)
				}
			}
		}
	})
}
