package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/rules-img/rules_img/pkg/oci"
)

// A referrer (a manifest with a subject: a signature, an SBOM) must be
// found by asking for its subject. Registries with the Referrers API index
// it themselves and say so with OCI-Subject when it is put; for the others
// the client keeps an index under the subject's fallback tag (OCI
// distribution spec 1.1, "referrers tag schema").

// PutReferrer puts the manifest self describes, whose subject is subject,
// by digest and makes it findable from its subject. put is false when the
// registry holds the manifest already: only its findability is checked.
func (r *Repo) PutReferrer(ctx context.Context, self oci.Descriptor, raw []byte, subject string, put bool) error {
	if put {
		h, err := r.putManifest(ctx, self.Digest, string(self.MediaType), self.Digest, raw, "")
		if err != nil {
			return err
		}
		if h.Get("OCI-Subject") == subject {
			return nil
		}
	} else {
		ok, err := r.referrersAPI(ctx, subject)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return r.addFallbackReferrer(ctx, self, subject)
}

// referrersAPI reports whether the registry answers the Referrers API for
// subject; 404 means it has none (the spec's signal to use the tag).
func (r *Repo) referrersAPI(ctx context.Context, subject string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL("referrers", subject), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", string(oci.MediaTypeIndex))
	resp, err := r.Do(req, http.StatusOK)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer Drain(resp)
	return strings.HasPrefix(resp.Header.Get("Content-Type"), string(oci.MediaTypeIndex)), nil
}

// FallbackTag is the tag under which a registry without the Referrers API
// keeps the referrers of digest: "sha256-<hex>".
func FallbackTag(digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	if len(alg) > 32 {
		alg = alg[:32]
	}
	if len(hex) > 64 {
		hex = hex[:64]
	}
	return alg + "-" + hex
}

// One process adds referrers of a subject one at a time: a signature and
// an SBOM of one image are pushed side by side, and each rewrites the tag.
var fallbackLocks sync.Map // "host/repo@subject" -> *sync.Mutex

func (r *Repo) addFallbackReferrer(ctx context.Context, self oci.Descriptor, subject string) error {
	mu, _ := fallbackLocks.LoadOrStore(r.Host()+"/"+r.Name()+"@"+subject, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	tag := FallbackTag(subject)
	entry := oci.Descriptor{MediaType: self.MediaType, Digest: self.Digest, Size: self.Size, ArtifactType: self.ArtifactType, Annotations: self.Annotations}
	// Another client may rewrite the tag between our read and our write
	// (registries without the API rarely honour If-Match): write, read back,
	// and write again until the entry is there.
	for attempt := 0; attempt <= 5; attempt++ {
		idx, etag, err := r.fallbackIndex(ctx, tag)
		if err != nil {
			return fmt.Errorf("reading the referrers of %s (tag %s): %w", subject, tag, err)
		}
		if listed(idx, self.Digest) {
			return nil
		}
		if attempt == 5 {
			break
		}
		idx.Manifests = append(idx.Manifests, entry)
		raw, err := oci.Marshal(idx)
		if err != nil {
			return err
		}
		if _, err := r.putManifest(ctx, tag, string(oci.MediaTypeIndex), oci.Digest(raw), raw, etag); err != nil {
			var te *transport.Error
			if errors.As(err, &te) && te.StatusCode == http.StatusPreconditionFailed {
				continue
			}
			return fmt.Errorf("adding %s to the referrers of %s (tag %s): %w", self.Digest, subject, tag, err)
		}
	}
	return fmt.Errorf("adding %s to the referrers of %s: tag %s kept changing under other writers; push again", self.Digest, subject, tag)
}

func listed(idx oci.Index, digest string) bool {
	for _, d := range idx.Manifests {
		if d.Digest == digest {
			return true
		}
	}
	return false
}

// fallbackIndex reads the referrers index under tag (empty when absent)
// and its ETag.
func (r *Repo) fallbackIndex(ctx context.Context, tag string) (oci.Index, string, error) {
	idx := oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: []oci.Descriptor{}}
	resp, err := r.Get(ctx, r.URL("manifests", tag), string(oci.MediaTypeIndex))
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return idx, "", nil
	}
	if err != nil {
		return idx, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return idx, "", err
	}
	var got oci.Index
	if err := json.Unmarshal(raw, &got); err != nil || !got.MediaType.IsIndex() {
		return idx, "", fmt.Errorf("tag %s is not an OCI index: it is not the referrers fallback, and will not be overwritten", tag)
	}
	if got.Manifests == nil {
		got.Manifests = []oci.Descriptor{}
	}
	return got, resp.Header.Get("ETag"), nil
}
