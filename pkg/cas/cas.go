// Package cas reads blobs from the content-addressable store of a Bazel cache
// (HTTP, gRPC/REAPI or a --disk_cache directory), so images whose layers a
// build left only in the cache can still be pushed. Bazel keys a file by the
// sha256 of its bytes, which is also its OCI blob digest.
package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rules-img/rules_img/pkg/credhelper"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Store opens blobs by digest from one cache.
type Store interface {
	// Open streams the blob. digest is "sha256:<hex>", size its byte count.
	// A blob the cache does not have returns an error for which
	// errors.Is(err, ErrNotFound) holds.
	Open(ctx context.Context, digest string, size int64) (io.ReadCloser, error)
	// String names the cache for messages, without credentials.
	String() string
}

// ErrNotFound is wrapped by the error for a blob the cache does not have.
var ErrNotFound = errors.New("not in the remote cache")

// Options configures Open.
type Options struct {
	CredentialHelper string // path or name (looked up on PATH) of a Bazel credential helper; "" none
	InstanceName     string // REAPI instance name; "" none
	// Headers go with every gRPC call, as gRPC metadata (e.g. a bearer
	// token for the registry's blob cache endpoint).
	Headers map[string]string
}

const acceptedForms = "http://HOST[:PORT][/PREFIX], https://..., grpc://HOST:PORT, grpcs://HOST:PORT, HOST:PORT (grpcs), unix:///SOCKET, file:///DIR or /DIR"

// Open returns the Store for endpoint, spelled as Bazel's --remote_cache or
// --disk_cache. It does not contact the cache.
func Open(endpoint string, opts Options) (Store, error) {
	bad := func(why string) error {
		return fmt.Errorf("cache endpoint %q: %s; accepted forms: %s", Redact(endpoint), why, acceptedForms)
	}
	if endpoint == "" {
		return nil, bad("empty")
	}
	var helper *credhelper.Helper
	if opts.CredentialHelper != "" {
		var err error
		if helper, err = credhelper.New(opts.CredentialHelper); err != nil {
			return nil, err
		}
	}
	if filepath.IsAbs(endpoint) {
		return openDisk(endpoint)
	}
	if !strings.Contains(endpoint, "://") && !strings.HasPrefix(endpoint, "unix:") {
		// Bazel reads a bare HOST:PORT as grpcs.
		host, port, err := net.SplitHostPort(endpoint)
		if err != nil || host == "" || !validPort(port) {
			return nil, bad("not a URL, absolute path or HOST:PORT")
		}
		return newGRPC("grpcs", endpoint, opts.InstanceName, helper, opts.Headers)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, bad("not a valid URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, bad("query and fragment are not supported")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return nil, bad("no host")
		}
		return newHTTP(u, helper), nil
	case "grpc", "grpcs":
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil {
			return nil, bad("want only HOST:PORT after the scheme")
		}
		return newGRPC(strings.ToLower(u.Scheme), u.Host, opts.InstanceName, helper, opts.Headers)
	case "unix":
		if u.Host != "" || !filepath.IsAbs(u.Path) {
			return nil, bad("want an absolute socket path, as unix:///path/to/socket")
		}
		return newGRPC("unix", u.Path, opts.InstanceName, helper, opts.Headers)
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return nil, bad("want an absolute directory, as file:///path/to/dir")
		}
		return openDisk(u.Path)
	}
	return nil, bad("unknown scheme " + strconv.Quote(u.Scheme))
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

// Redact drops userinfo (a user name and password) from a URL-like
// endpoint, for logs and error messages.
func Redact(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	if i := strings.Index(endpoint, "://"); i >= 0 {
		// Unparsable URL: drop anything before an '@' in the authority.
		rest := endpoint[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 && !strings.Contains(rest[:at], "/") {
			return endpoint[:i+3] + rest[at+1:]
		}
	}
	return endpoint
}

// parseDigest returns the hex of a remote cache key, sha256:<hex> or (for
// a cache keyed by --digest_function=SHA1) sha1:<hex>.
func parseDigest(digest string, size int64) (string, error) {
	if err := oci.CheckCASDigest(digest); err != nil {
		return "", fmt.Errorf("cas: %w", err)
	}
	if size < 0 {
		return "", fmt.Errorf("cas: invalid size %d for %s", size, digest)
	}
	_, hex, _ := strings.Cut(digest, ":")
	return hex, nil
}

// sizedReader turns a body that ends early or runs long into an error, since
// a cache that drops a connection may otherwise look like a clean EOF.
type sizedReader struct {
	rc     io.ReadCloser
	n      int64
	size   int64
	digest string
	from   string
}

func (r *sizedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.n += int64(n)
	if r.n > r.size {
		return n, fmt.Errorf("cas: blob %s from %s is longer than its size %d", r.digest, r.from, r.size)
	}
	if err == io.EOF && r.n < r.size {
		return n, fmt.Errorf("cas: blob %s from %s: short read, got %d of %d bytes: %w", r.digest, r.from, r.n, r.size, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (r *sizedReader) Close() error { return r.rc.Close() }

// retryReader re-opens its source when it fails transiently before it
// handed the caller any byte; after that, errors go to the caller as they are.
type retryReader struct {
	ctx       context.Context
	open      func(ctx context.Context) (io.ReadCloser, error)
	retryable func(error) bool
	rc        io.ReadCloser
	attempt   int
	delivered bool
}

const maxAttempts = 4

// openWithRetry opens through r.open, retrying transient failures.
func openWithRetry(ctx context.Context, open func(context.Context) (io.ReadCloser, error), retryable func(error) bool) (io.ReadCloser, error) {
	r := &retryReader{ctx: ctx, open: open, retryable: retryable}
	if err := r.reopen(nil); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *retryReader) reopen(last error) error {
	for {
		if last != nil {
			if r.attempt >= maxAttempts || !r.retryable(last) {
				return last
			}
			if err := sleep(r.ctx, backoff(r.attempt)); err != nil {
				return last
			}
		}
		r.attempt++
		rc, err := r.open(r.ctx)
		if err == nil {
			r.rc = rc
			return nil
		}
		last = err
	}
}

func (r *retryReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.delivered = true
	}
	if err != nil && err != io.EOF && !r.delivered && r.retryable(err) && r.attempt < maxAttempts {
		r.rc.Close()
		if rerr := r.reopen(err); rerr != nil {
			r.rc = io.NopCloser(errReader{rerr})
			return 0, rerr
		}
		return r.Read(p)
	}
	return n, err
}

func (r *retryReader) Close() error { return r.rc.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// backoffBase is a variable so tests need not wait.
var backoffBase = 200 * time.Millisecond

func backoff(attempt int) time.Duration { return backoffBase << (attempt - 1) }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// openDisk is a --disk_cache directory: blobs at DIR/cas/<hex[:2]>/<hex>.
func openDisk(dir string) (Store, error) {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("disk cache %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("disk cache %s: not a directory", dir)
	}
	return diskStore{dir: dir}, nil
}

type diskStore struct{ dir string }

func (d diskStore) String() string { return d.dir }

func (d diskStore) Open(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	hex, err := parseDigest(digest, size)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.dir, "cas", hex[:2], hex))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s in disk cache %s", ErrNotFound, digest, d.dir)
	}
	if err != nil {
		return nil, err
	}
	return &sizedReader{rc: f, size: size, digest: digest, from: d.dir}, nil
}
