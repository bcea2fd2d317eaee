package build

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/oci"
)

func TestOptimize(t *testing.T) {
	l0, l1 := imagetest.FakeMeta(0), imagetest.FakeMeta(1)
	config := `{"architecture":"arm64","os":"linux","variant":"v8","docker_version":"20.10",` +
		`"rootfs":{"type":"layers","diff_ids":["` + l0.DiffID + `","` + l1.DiffID + `"]}}`
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"` + oci.Digest([]byte(config)) + `","size":1},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"` + l0.Digest + `","size":100,"annotations":{"keep":"me"}},` +
		`{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"` + l1.Digest + `","size":101}]}`

	// Recompressed to zstd: same diffIDs, so the config keeps its bytes.
	z0, z1 := l0, l1
	z0.MediaType, z0.Digest, z0.Size = oci.MediaTypeLayerZstd, oci.Digest([]byte("z0")), 90
	z1.MediaType, z1.Digest, z1.Size = oci.MediaTypeLayerZstd, oci.Digest([]byte("z1")), 91
	out, err := Optimize([]byte(manifest), []byte(config), []oci.LayerMetadata{z0, z1})
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Config) != config {
		t.Errorf("config changed although no diffID did:\n%s", out.Config)
	}
	want := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + oci.Digest([]byte(config)) + `","size":` + itoa(len(config)) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"` + z0.Digest + `","size":90,"annotations":{"keep":"me"}},` +
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"` + z1.Digest + `","size":91}]}`
	if string(out.Manifest) != want {
		t.Errorf("manifest:\n got %s\nwant %s", out.Manifest, want)
	}
	if p := out.Descriptor.Platform; p == nil || p.Architecture != "arm64" || p.Variant != "v8" {
		t.Errorf("descriptor platform %+v", p)
	}

	// A rewritten tar (new diffID): rootfs changes, other fields stay.
	z1.DiffID = oci.Digest([]byte("other"))
	out, err = Optimize([]byte(manifest), []byte(config), []oci.LayerMetadata{z0, z1})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Config, &got); err != nil {
		t.Fatal(err)
	}
	ids := got["rootfs"].(map[string]any)["diff_ids"].([]any)
	if got["docker_version"] != "20.10" || len(ids) != 2 || ids[1] != z1.DiffID {
		t.Errorf("config %s", out.Config)
	}
	if !strings.Contains(string(out.Manifest), oci.Digest(out.Config)) {
		t.Errorf("manifest does not reference the new config")
	}

	if _, err := Optimize([]byte(manifest), []byte(config), []oci.LayerMetadata{z0}); err == nil || !strings.Contains(err.Error(), "1 new layers for a manifest of 2") {
		t.Errorf("err = %v", err)
	}
	if _, err := Optimize([]byte(manifest), []byte(config+" "), []oci.LayerMetadata{z0, z1}); err == nil || !strings.Contains(err.Error(), "not the one the manifest references") {
		t.Errorf("err = %v", err)
	}
}
