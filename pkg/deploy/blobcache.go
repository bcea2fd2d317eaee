package deploy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
)

// announce tells the blob cache endpoint of a cas_registry (cmd/registry)
// every blob of img, so the registry learns their sizes and serves them out
// of the CAS: the push then finds them present and sends only manifests and
// tags. Blobs the CAS lacks (a base image's layers, say) are uploaded by the
// push as usual.
func (s *Spec) announce(ctx context.Context, img *image.Image, env Env) error {
	endpoint := env.getenv("IMG_BLOB_CACHE_ENDPOINT")
	if endpoint == "" {
		fmt.Fprintf(env.Stderr, "%s: strategy cas_registry without IMG_BLOB_CACHE_ENDPOINT (the registry's --grpc-port, as grpc://HOST:PORT): the registry cannot tell which blobs the CAS has, so they are uploaded\n", s.Label)
		return nil
	}
	store, err := blobCache(endpoint, env.getenv("IMG_BLOB_CACHE_TOKEN_FILE"))
	if err != nil {
		return fmt.Errorf("%s: IMG_BLOB_CACHE_ENDPOINT: %w", s.Label, err)
	}
	var blobs []cas.Blob
	seen := map[string]bool{}
	add := func(d string, n int64) {
		if !seen[d] {
			seen[d] = true
			blobs = append(blobs, cas.Blob{Digest: d, Size: n})
		}
	}
	// The CAS's keys: with Bazel's --digest_function=SHA1 the registry
	// (started with --digest-function sha1) maps each to its OCI digest.
	fn, err := oci.CASDigestFunction(s.CASDigestFunction)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Label, err)
	}
	for _, m := range img.Manifests {
		if fn == oci.CASSHA256 {
			// A SOCI index's ztocs are build outputs, in the CAS by their
			// digest; under another digest function the push uploads them.
			for _, a := range m.Artifacts {
				for _, l := range a.Layers {
					add(l.Digest, l.Size)
				}
			}
		}
		config := m.ConfigDigest
		if fn != oci.CASSHA256 {
			config = oci.DigestWith(fn, m.Config)
		}
		add(config, int64(len(m.Config)))
		for _, l := range m.Layers {
			if l.MediaType.IsNonDistributable() {
				continue
			}
			key := l.Digest
			if fn != oci.CASSHA256 {
				if l.Source != nil {
					continue // a base image's layer: not in the CAS, uploaded by the push
				}
				if key = l.CASDigest; key == "" {
					return fmt.Errorf("%s: layer %s: its metadata records no %s key for the remote cache: rebuild with --@rules_img//img/settings:digest_function=%s", s.Label, l.Digest, fn, fn)
				}
			}
			add(key, l.Size)
		}
	}
	missing, err := store.Missing(ctx, blobs)
	if err != nil {
		return fmt.Errorf("%s: blob cache endpoint %s: %w", s.Label, endpoint, err)
	}
	if len(missing) > 0 {
		fmt.Fprintf(env.Stderr, "%s: the CAS behind the registry lacks %d of %d blobs; they are uploaded\n", s.Label, len(missing), len(blobs))
	}
	return nil
}

var blobCaches struct {
	mu     sync.Mutex
	stores map[string]cas.REAPI
}

// blobCache returns one connection per endpoint for the whole process: a
// multi_deploy of a fleet announces every image over it. tokenFile, if
// set, holds the token the registry's --blobcache-token-file wants.
func blobCache(endpoint, tokenFile string) (cas.REAPI, error) {
	blobCaches.mu.Lock()
	defer blobCaches.mu.Unlock()
	key := endpoint + "\x00" + tokenFile
	if s, ok := blobCaches.stores[key]; ok {
		return s, nil
	}
	var opts cas.Options
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("IMG_BLOB_CACHE_TOKEN_FILE: %w", err)
		}
		opts.Headers = map[string]string{"authorization": "Bearer " + strings.TrimSpace(string(b))}
	}
	s, err := cas.OpenREAPI(endpoint, opts)
	if err != nil {
		return nil, err
	}
	if blobCaches.stores == nil {
		blobCaches.stores = map[string]cas.REAPI{}
	}
	blobCaches.stores[key] = s
	return s, nil
}
