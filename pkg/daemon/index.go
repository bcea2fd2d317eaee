package daemon

import (
	"encoding/json"
	"fmt"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
)

// rootIndex is the index a multi-platform load names: the built index when
// every manifest is loaded, else one that lists only the loaded ones.
type rootIndex struct {
	raw       []byte
	digest    string
	mediaType oci.MediaType
}

func indexFor(img *image.Image, ms []image.Manifest) (*rootIndex, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(img.Index, &doc); err != nil {
		return nil, fmt.Errorf("the image's index: %w", err)
	}
	mediaType := oci.MediaTypeIndex
	if mt, ok := doc["mediaType"]; ok {
		if err := json.Unmarshal(mt, &mediaType); err != nil {
			return nil, fmt.Errorf("the image's index: mediaType: %w", err)
		}
	}
	if len(ms) == len(img.Manifests) {
		return &rootIndex{raw: img.Index, digest: img.IndexDigest, mediaType: mediaType}, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil {
		return nil, fmt.Errorf("the image's index: manifests: %w", err)
	}
	want := map[string]bool{}
	for _, m := range ms {
		want[m.Digest] = true
	}
	var kept []json.RawMessage
	for _, e := range entries {
		var d struct{ Digest string }
		if json.Unmarshal(e, &d) == nil && want[d.Digest] {
			kept = append(kept, e)
		}
	}
	doc["manifests"], _ = json.Marshal(kept)
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &rootIndex{raw: raw, digest: oci.Digest(raw), mediaType: mediaType}, nil
}
