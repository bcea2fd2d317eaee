// Package pull pulls images from OCI registries the way rules_img needs
// them: index, manifests and configs eagerly (kilobytes), layer blobs only
// on demand, every byte checked against its digest.
package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
)

// maxManifestBytes bounds a manifest or index read whose size we do not
// know yet (the root); registries reject larger manifests too.
const maxManifestBytes = 4 << 20

// acceptManifests is what we ask a registry for: OCI and Docker v2, never
// schema 1.
var acceptManifests = strings.Join([]string{
	string(oci.MediaTypeIndex), string(oci.MediaTypeManifest),
	string(oci.MediaTypeDockerManifestList), string(oci.MediaTypeDockerManifest),
}, ", ")

// client is the registry client of one pull, with what the pull adds: the
// image's name for messages and a count of the bytes received.
type client struct {
	*registry.Repo
	image       string // registry/repository@digest, or the pull's name
	transferred atomic.Int64
}

func newClient(ctx context.Context, reg, repository string, kc authn.Keychain, insecure bool, image string, gateway *registry.Gateway) (*client, error) {
	r, err := registry.Open(ctx, reg, repository, registry.Options{Keychain: kc, Insecure: insecure, Label: image, Gateway: gateway})
	if err != nil {
		return nil, err
	}
	return &client{Repo: r, image: image}, nil
}

// fetchManifest downloads a manifest or index by digest (or tag when
// digest is "" and tag is set) and checks it. size < 0: unknown.
func (c *client) fetchManifest(ctx context.Context, ref, digest string, size int64, what string) (body []byte, contentType string, err error) {
	err = c.Retry(ctx, func() error {
		resp, err := c.Get(ctx, c.URL("manifests", ref), acceptManifests)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		limit := int64(maxManifestBytes)
		if size >= 0 {
			limit = size
		}
		body, err = readLimited(resp.Body, limit)
		c.transferred.Add(int64(len(body)))
		if err != nil {
			return err
		}
		contentType = resp.Header.Get("Content-Type")
		return nil
	})
	if err != nil {
		return nil, "", c.explain(err, what)
	}
	if digest != "" {
		if err := c.verify(body, digest, size, what); err != nil {
			return nil, "", err
		}
	}
	return body, contentType, nil
}

// fetchSmallBlob downloads a config (or other small blob) and checks it.
func (c *client) fetchSmallBlob(ctx context.Context, digest string, size int64, what string) ([]byte, error) {
	var body []byte
	err := c.Retry(ctx, func() error {
		resp, err := c.Get(ctx, c.URL("blobs", digest), "")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = readLimited(resp.Body, size)
		c.transferred.Add(int64(len(body)))
		return err
	})
	if err != nil {
		return nil, c.explain(err, what)
	}
	return body, c.verify(body, digest, size, what)
}

// errTooLarge means a body went past the size it was referenced with.
var errTooLarge = errors.New("more bytes than the referenced size")

// readLimited reads at most limit bytes plus one, so that a body longer
// than announced is caught rather than silently cut.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b, errTooLarge
	}
	return b, nil
}

// verify checks b against the digest (and size, if known) it was asked for.
func (c *client) verify(b []byte, digest string, size int64, what string) error {
	sum := sha256.Sum256(b)
	got := "sha256:" + hex.EncodeToString(sum[:])
	if got != digest {
		return &DigestMismatchError{Image: c.image, What: what, Want: digest, Got: got}
	}
	if size >= 0 && int64(len(b)) != size {
		return fmt.Errorf("%s: %s has %d bytes, but is referenced with size %d", c.image, what, len(b), size)
	}
	return nil
}

// DigestMismatchError reports content that does not hash to the digest it
// was fetched by: a broken registry, proxy or tampering.
type DigestMismatchError struct {
	Image, What, Want, Got string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("%s: %s: digest mismatch: expected %s, registry sent content with digest %s", e.Image, e.What, e.Want, e.Got)
}

// hashingWriter hashes and counts what passes through it.
type hashingWriter struct {
	h hash.Hash
	n int64
	// onWrite reports progress; may be nil.
	onWrite func(int)
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	w.n += int64(len(p))
	if w.onWrite != nil {
		w.onWrite(len(p))
	}
	return len(p), nil
}
