// Package registry pulls images from OCI registries the way rules_img needs
// them: index, manifests and configs eagerly (kilobytes), layer blobs only
// on demand, every byte checked against its digest.
package registry

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
)

// Retry policy. Variables so tests need not sleep.
var (
	maxAttempts  = 4
	firstBackoff = 500 * time.Millisecond
)

// maxManifestBytes bounds a manifest or index read whose size we do not
// know yet (the root); registries reject larger manifests too.
const maxManifestBytes = 4 << 20

// acceptManifests is what we ask a registry for: OCI and Docker v2, never
// schema 1.
var acceptManifests = strings.Join([]string{
	mediaTypeOCIIndex, mediaTypeOCIManifest, mediaTypeDockerList, mediaTypeDockerManifest,
}, ", ")

const (
	mediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

// repositoryRE is the repository name grammar of the distribution spec.
var repositoryRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// client talks to one repository of one registry.
type client struct {
	reg      name.Registry
	repo     name.Repository
	keychain authn.Keychain
	http     *http.Client
	image    string // for messages: registry/repository@digest
	// transferred counts manifest, config and blob bytes received.
	transferred atomic.Int64
}

// newClient resolves credentials and does the registry's auth handshake.
func newClient(ctx context.Context, registry, repository string, kc authn.Keychain, insecure bool, image string) (*client, error) {
	if registry == "" || repository == "" {
		return nil, errors.New("registry and repository are required")
	}
	var opts []name.Option
	if insecure || regerr.IsLoopback(registry) {
		// Lets the handshake fall back to plain HTTP.
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", image, err)
	}
	// Not name.NewRepository: it rejects one-letter names the distribution
	// spec allows, and guesses the registry from the first path element.
	if !repositoryRE.MatchString(repository) {
		return nil, fmt.Errorf("%s: repository %q is not a valid name (lowercase letters, digits, separators, slashes)", image, repository)
	}
	repo := reg.Repo(repository)
	c := &client{reg: reg, repo: repo, keychain: kc, image: image}
	if kc == nil {
		c.keychain = authn.NewMultiKeychain() // resolves to anonymous
	}
	auth, err := authn.Resolve(ctx, c.keychain, c.reg)
	if err != nil {
		return nil, fmt.Errorf("%s: looking up credentials for %s: %w", image, c.reg.RegistryStr(), err)
	}

	base := baseTransport()
	base.ResponseHeaderTimeout = 2 * time.Minute
	if insecure {
		// Like crane --insecure: a registry one marks insecure may also
		// have a self-signed certificate.
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	scopes := []string{repo.Scope(transport.PullScope)}
	var rt http.RoundTripper
	err = c.retry(ctx, func() error {
		var err error
		rt, err = transport.NewWithContext(ctx, c.reg, auth, base, scopes)
		return err
	})
	if err != nil {
		return nil, c.explain(err, "")
	}
	c.http = &http.Client{Transport: rt}
	return c, nil
}

// baseTransport is the HTTP transport under the auth handshake; the fuzz
// test points it at a loopback server whatever host a challenge names.
var baseTransport = func() *http.Transport { return http.DefaultTransport.(*http.Transport).Clone() }

func (c *client) url(kind, ref string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", c.reg.Scheme(), c.reg.RegistryStr(), c.repo.RepositoryStr(), kind, ref)
}

// get sends one GET and returns the response if it is 200.
func (c *client) get(ctx context.Context, url, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// fetchManifest downloads a manifest or index by digest (or tag when
// digest is "" and tag is set) and checks it. size < 0: unknown.
func (c *client) fetchManifest(ctx context.Context, ref, digest string, size int64, what string) (body []byte, contentType string, err error) {
	err = c.retry(ctx, func() error {
		resp, err := c.get(ctx, c.url("manifests", ref), acceptManifests)
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
	err := c.retry(ctx, func() error {
		resp, err := c.get(ctx, c.url("blobs", digest), "")
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

// retry runs f until it succeeds, fails for good, or attempts run out.
func (c *client) retry(ctx context.Context, f func() error) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt >= maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// retryable: rate limits, server errors and dropped connections; not auth,
// not-found, refused connections or TLS problems, which a retry won't fix.
func retryable(err error) bool {
	return errors.Is(err, errShortBlob) || regerr.Retryable(err)
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
