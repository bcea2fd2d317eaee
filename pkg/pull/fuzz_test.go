package pull

import (
	"testing"
)

// FuzzParseManifest: a registry's manifest or index, with its Content-Type.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:00", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}]}`), "")
	f.Add([]byte(`{"schemaVersion": 2, "config": {"digest": "sha256:00", "size": 1}, "layers": []}`), "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
	f.Add([]byte(`{"schemaVersion": 1, "fsLayers": []}`), "application/vnd.docker.distribution.manifest.v1+prettyjws")
	f.Add([]byte(`<html><body>502 Bad Gateway</body></html>`), "text/html")
	f.Fuzz(func(t *testing.T, raw []byte, contentType string) {
		_, mt, err := parseManifest(raw, contentType)
		if err == nil && !mt.IsIndex() && !mt.IsManifest() {
			t.Fatalf("accepted media type %q", mt)
		}
	})
}
