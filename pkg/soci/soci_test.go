package soci

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small := Layer{Metadata: oci.LayerMetadata{MediaType: oci.MediaTypeLayerGzip, Digest: "sha256:aa"}, Ztoc: write("small", "")}
	big := Layer{Metadata: oci.LayerMetadata{MediaType: oci.MediaTypeLayerGzip, Digest: "sha256:bb"}, Ztoc: write("big", "ztoc bytes")}

	if _, ok, err := Build([]Layer{small}, 1<<20, "t"); err != nil || ok {
		t.Fatalf("no ztoc: ok %v, err %v; want no index", ok, err)
	}
	idx, ok, err := Build([]Layer{small, big}, 1<<20, "t")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	var m oci.Manifest
	if err := json.Unmarshal(idx.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != ArtifactType || m.Config.Digest != oci.Digest(Config) || len(m.Layers) != 1 ||
		m.Layers[0].Digest != oci.Digest([]byte("ztoc bytes")) || m.Layers[0].Annotations[annotationLayerDigest] != "sha256:bb" ||
		m.Layers[0].Annotations[annotationSpanSize] != "1048576" {
		t.Fatalf("SOCI index %s", idx.Manifest)
	}
	if idx.Descriptor.Digest != oci.Digest(idx.Manifest) || idx.Descriptor.ArtifactType != string(ArtifactType) {
		t.Fatalf("descriptor %+v", idx.Descriptor)
	}

	image := oci.Descriptor{MediaType: oci.MediaTypeManifest, Digest: "sha256:cc", Size: 3, Platform: &oci.Platform{OS: "linux", Architecture: "amd64"}}
	e, err := Entry(idx.Descriptor, image)
	if err != nil || e.Annotations[AnnotationImageManifestDigest] != "sha256:cc" || e.Platform != image.Platform || e.ArtifactType != string(ArtifactType) {
		t.Fatalf("entry %+v, %v", e, err)
	}
	image.Platform = nil
	if _, err := Entry(idx.Descriptor, image); err == nil {
		t.Fatal("an entry without the image's platform")
	}
}
