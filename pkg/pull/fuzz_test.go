package pull

import (
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

// FuzzParseManifest: a registry's manifest or index, with its Content-Type.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:00", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}}]}`), "")
	f.Add([]byte(`{"schemaVersion": 2, "config": {"digest": "sha256:00", "size": 1}, "layers": []}`), "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
	f.Add([]byte(`{"schemaVersion": 1, "fsLayers": []}`), "application/vnd.docker.distribution.manifest.v1+prettyjws")
	f.Add([]byte(`<html><body>502 Bad Gateway</body></html>`), "text/html")
	f.Fuzz(func(t *testing.T, raw []byte, contentType string) {
		doc, mt, err := parseManifest(raw, contentType)
		if err != nil {
			return
		}
		if !mt.IsIndex() && !mt.IsManifest() {
			t.Fatalf("accepted media type %q", mt)
		}
		if doc.SchemaVersion == 1 {
			t.Fatal("accepted a schema 1 manifest")
		}
		// A known type in the body wins; without a type in the body, a known
		// Content-Type; else the shape decides: an index has manifests, a
		// manifest a config.
		ct, _, _ := strings.Cut(contentType, ";")
		declared := oci.MediaType(strings.TrimSpace(ct))
		if doc.MediaType != "" {
			declared = doc.MediaType
		}
		switch {
		case declared.IsIndex() || declared.IsManifest():
			if mt != declared {
				t.Fatalf("declared %q, parsed as %q", declared, mt)
			}
		case doc.Manifests != nil:
			if mt != oci.MediaTypeIndex {
				t.Fatalf("a body with manifests parsed as %q", mt)
			}
		case doc.Config == nil || mt != oci.MediaTypeManifest:
			t.Fatalf("neither type nor shape, parsed as %q", mt)
		}
	})
}
