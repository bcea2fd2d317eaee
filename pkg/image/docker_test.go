package image

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

func testManifest(t *testing.T, layerType oci.MediaType, arch string) Manifest {
	t.Helper()
	cfg := []byte(`{"architecture":"` + arch + `","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + strings.Repeat("1", 64) + `"]}}`)
	layer := oci.Descriptor{MediaType: layerType, Digest: "sha256:" + strings.Repeat("2", 64), Size: 10}
	raw, err := oci.Marshal(oci.Manifest{SchemaVersion: 2, MediaType: oci.MediaTypeManifest,
		Config: oci.DescriptorFor(oci.MediaTypeConfig, cfg), Layers: []oci.Descriptor{layer},
		Annotations: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	return Manifest{Raw: raw, Digest: oci.Digest(raw), MediaType: oci.MediaTypeManifest, Platform: oci.Platform{OS: "linux", Architecture: arch},
		Config: cfg, ConfigDigest: oci.Digest(cfg), ConfigMediaType: oci.MediaTypeConfig,
		Layers: []Layer{{MediaType: layerType, Digest: layer.Digest, Size: 10}}}
}

// AsDocker keeps config and layer bytes and changes only media types, the
// manifests' bytes and digests, and the index into a manifest list.
func TestAsDocker(t *testing.T) {
	amd, arm := testManifest(t, oci.MediaTypeLayerGzip, "amd64"), testManifest(t, oci.MediaTypeLayer, "arm64")
	idx, _ := oci.Marshal(oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: []oci.Descriptor{
		{MediaType: oci.MediaTypeManifest, Digest: amd.Digest, Size: int64(len(amd.Raw)), Platform: &oci.Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: oci.MediaTypeManifest, Digest: arm.Digest, Size: int64(len(arm.Raw)), Platform: &oci.Platform{OS: "linux", Architecture: "arm64"}},
	}})
	got, err := AsDocker(&Image{Index: idx, IndexDigest: oci.Digest(idx), Manifests: []Manifest{amd, arm}})
	if err != nil {
		t.Fatal(err)
	}
	var list oci.Index
	json.Unmarshal(got.Index, &list)
	if list.MediaType != oci.MediaTypeDockerManifestList || got.IndexDigest != oci.Digest(got.Index) || len(list.Manifests) != 2 {
		t.Fatalf("manifest list: %s", got.Index)
	}
	for i, m := range got.Manifests {
		var doc oci.Manifest
		json.Unmarshal(m.Raw, &doc)
		want := []oci.MediaType{oci.MediaTypeDockerLayerGzip, oci.MediaTypeDockerLayer}[i]
		if doc.MediaType != oci.MediaTypeDockerManifest || doc.Config.MediaType != oci.MediaTypeDockerConfig || doc.Layers[0].MediaType != want ||
			m.Layers[0].MediaType != want || doc.Annotations != nil || m.Digest != oci.Digest(m.Raw) {
			t.Errorf("manifest %d: %s", i, m.Raw)
		}
		if list.Manifests[i].Digest != m.Digest || list.Manifests[i].Platform == nil || string(m.Config) != string([]Manifest{amd, arm}[i].Config) {
			t.Errorf("entry %d: %+v", i, list.Manifests[i])
		}
	}
	if _, err := AsDocker(&Image{Manifests: []Manifest{testManifest(t, oci.MediaTypeLayerZstd, "amd64")}}); err == nil || !strings.Contains(err.Error(), `compress = "gzip"`) {
		t.Errorf("a zstd layer in Docker's format: %v", err)
	}
}
