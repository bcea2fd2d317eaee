package push

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
)

// Retry policy. Variables so tests need not sleep.
var (
	maxAttempts  = 5
	firstBackoff = 500 * time.Millisecond
	maxBackoff   = 10 * time.Second
)

// repositoryRE is the repository name grammar of the distribution spec.
var repositoryRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// tagRE is the tag grammar of the distribution spec.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// dest talks to the repository we push to. Requests go through ggcr's
// transport for the auth handshake and tokens; the upload protocol is ours,
// so that ordering, mounting and streaming stay under control.
type dest struct {
	reg      name.Registry
	repo     string
	keychain authn.Keychain
	http     *http.Client
	target   string // registry/repository, for messages
}

// newDest does the auth handshake, asking for push on the repository and
// pull on the repositories we may mount from.
func newDest(ctx context.Context, reg name.Registry, repo string, kc authn.Keychain, insecure bool, jobs int, mountFrom []string) (*dest, error) {
	d := &dest{reg: reg, repo: repo, keychain: kc, target: reg.RegistryStr() + "/" + repo}
	auth, err := authn.Resolve(ctx, kc, reg)
	if err != nil {
		return nil, fmt.Errorf("%s: looking up credentials for %s: %w", d.target, reg.RegistryStr(), err)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.ResponseHeaderTimeout = 5 * time.Minute
	base.MaxIdleConnsPerHost = jobs + 2
	if insecure {
		// Like crane --insecure: may also be a self-signed certificate.
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	r := reg.Repo(repo)
	scopes := []string{r.Scope(transport.PushScope)}
	for _, from := range mountFrom {
		scopes = append(scopes, reg.Repo(from).Scope(transport.PullScope))
	}
	var rt http.RoundTripper
	err = retry(ctx, func() error {
		var err error
		rt, err = transport.NewWithContext(ctx, reg, auth, rewind{base}, scopes)
		return err
	})
	if err != nil {
		return nil, d.explain(err, "")
	}
	d.http = &http.Client{Transport: rt}
	return d, nil
}

// rewind gives every request with GetBody a fresh body. ggcr's bearer
// transport resends the same request after refreshing an expired token,
// which would otherwise send an already consumed manifest body.
type rewind struct{ inner http.RoundTripper }

func (t rewind) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = body
	}
	return t.inner.RoundTrip(req)
}

func (d *dest) url(kind, ref string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", d.reg.Scheme(), d.reg.RegistryStr(), d.repo, kind, ref)
}

// do sends req and returns the response if its status is one of ok.
func (d *dest) do(req *http.Request, ok ...int) (*http.Response, error) {
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, ok...); err != nil {
		resp.Body.Close()
		if ra := retryAfter(resp); ra > 0 {
			return nil, &waitError{err: err, wait: ra}
		}
		return nil, err
	}
	return resp, nil
}

// drain lets the connection be reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// exists reports whether the repository has the blob.
func (d *dest) exists(ctx context.Context, digest string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, d.url("blobs", digest), nil)
	if err != nil {
		return false, err
	}
	resp, err := d.do(req, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	drain(resp)
	return resp.StatusCode == http.StatusOK, nil
}

// mount asks the registry to link the blob from another repository. When
// it cannot, it opens an upload session instead, which is returned for
// the fallback upload.
func (d *dest) mount(ctx context.Context, digest, from string) (mounted bool, session *url.URL, err error) {
	q := url.Values{"mount": {digest}, "from": {from}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url("blobs", "uploads/")+"?"+q.Encode(), nil)
	if err != nil {
		return false, nil, err
	}
	resp, err := d.do(req, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, nil, err
	}
	drain(resp)
	if resp.StatusCode == http.StatusCreated {
		return true, nil, nil
	}
	session, err = location(resp)
	return false, session, err
}

// startUpload opens an upload session.
func (d *dest) startUpload(ctx context.Context) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url("blobs", "uploads/"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.do(req, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	drain(resp)
	return location(resp)
}

func location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, errors.New("registry opened an upload session without a Location")
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("registry sent an invalid upload Location: %v", err)
	}
	return resp.Request.URL.ResolveReference(u), nil
}

// sourceError is a failure to read the blob we upload, as opposed to one
// of the registry we upload to.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading the blob: " + e.err.Error() }

// anonymous is the keychain of a push without one.
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }
func (anonymous) Source(string) string                                { return "anonymous" }
func (e *sourceError) Unwrap() error                                  { return e.err }

// upload streams the blob into session (a new one when nil): one PATCH
// with the whole verified stream, then PUT ?digest= to commit. onBytes
// sees every chunk sent; the caller undoes the count of a failed attempt.
func (d *dest) upload(ctx context.Context, session *url.URL, b *blob, onBytes func(int64)) error {
	var err error
	if session == nil {
		// Opening a session sends no data: retry it alone.
		err = retry(ctx, func() (err error) {
			session, err = d.startUpload(ctx)
			return err
		})
		if err != nil {
			return err
		}
	}
	rc, err := b.open(ctx)
	if err != nil {
		return &sourceError{err}
	}
	// The opener checks the length, and the digest unless the bytes are a
	// build output (image.Opener); the registry hashes them at the commit.
	body := &uploadBody{r: rc, onRead: onBytes}
	defer body.Close()

	commit := session
	if b.size == 0 {
		// An empty PATCH body would go out chunked; just check the source.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return &sourceError{err}
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, session.String(), body)
		if err != nil {
			return err
		}
		req.ContentLength = b.size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := d.do(req, http.StatusAccepted, http.StatusNoContent, http.StatusCreated)
		// The source's error explains a failed request best.
		if serr := body.failure(); serr != nil {
			if err == nil {
				drain(resp)
			}
			return &sourceError{serr}
		}
		if err != nil {
			return sessionLost(err)
		}
		drain(resp)
		if !body.complete() {
			return errors.New("registry answered before it received the whole blob")
		}
		if commit, err = location(resp); err != nil {
			return err
		}
	}
	q := commit.Query()
	q.Set("digest", b.digest)
	commit.RawQuery = q.Encode()
	// The commit carries no body, so it is retried alone rather than
	// resending the blob; if an earlier try went through but its answer
	// was lost, the blob is there and that is success.
	err = retry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, commit.String(), http.NoBody)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := d.do(req, http.StatusCreated)
		if err != nil {
			return err
		}
		drain(resp)
		return nil
	})
	if err != nil {
		// The check is retried too: under a flaky registry it can fail
		// just like the commit did.
		var ok bool
		herr := retry(ctx, func() (err error) {
			ok, err = d.exists(ctx, b.digest)
			return err
		})
		if herr == nil && ok {
			return nil
		}
		return sessionLost(err)
	}
	return nil
}

// lostSession marks a failure whose upload session the registry no longer
// knows: a commit whose answer was lost ended it, or a cut connection made
// the registry cancel it. A new session can succeed, so the caller's retry
// starts over.
type lostSession struct{ err error }

func (e *lostSession) Error() string { return e.err.Error() }
func (e *lostSession) Unwrap() error { return e.err }

func sessionLost(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && regerr.HasCode(te, transport.BlobUploadUnknownErrorCode) {
		return &lostSession{err}
	}
	return err
}

// uploadBody records how the source stream ended. The HTTP transport may
// read and close it from its own goroutine, hence the lock; once closed it
// reports no more bytes, so an abandoned attempt cannot skew progress.
type uploadBody struct {
	r      io.ReadCloser
	onRead func(int64)

	mu     sync.Mutex
	err    error
	eof    bool
	closed bool
}

var errBodyClosed = errors.New("upload body closed")

func (u *uploadBody) Read(p []byte) (int, error) {
	u.mu.Lock()
	closed := u.closed
	u.mu.Unlock()
	if closed {
		return 0, errBodyClosed
	}
	n, err := u.r.Read(p)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return 0, errBodyClosed
	}
	if n > 0 && u.onRead != nil {
		u.onRead(int64(n))
	}
	switch {
	case err == io.EOF:
		u.eof = true // the opener checked the length
	case err != nil && u.err == nil:
		u.err = err
	}
	return n, err
}

func (u *uploadBody) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	return u.r.Close()
}

func (u *uploadBody) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *uploadBody) complete() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.eof && u.err == nil
}

// hasManifest reports whether ref (a digest or a tag) already names the
// manifest with digest, so a re-push sends no manifest bytes.
func (d *dest) hasManifest(ctx context.Context, ref, mediaType, digest string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, d.url("manifests", ref), nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", mediaType)
	resp, err := d.do(req, http.StatusOK)
	if err != nil {
		return false
	}
	drain(resp)
	return resp.Header.Get("Docker-Content-Digest") == digest
}

// putManifest uploads raw under ref (a digest or a tag) and checks that
// the registry kept it byte for byte.
func (d *dest) putManifest(ctx context.Context, ref, mediaType, digest string, raw []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, d.url("manifests", ref), bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := d.do(req, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return err
	}
	drain(resp)
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest {
		return fmt.Errorf("registry stored it as %s, not %s: it rewrote the manifest", got, digest)
	}
	return nil
}

// waitError carries a Retry-After the registry asked for.
type waitError struct {
	err  error
	wait time.Duration
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, 30*time.Second)
}

// retry runs f until it succeeds, fails for good, or attempts run out.
func retry(ctx context.Context, f func() error) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt >= maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := backoff
		var we *waitError
		if errors.As(err, &we) && we.wait > wait {
			wait = we.wait
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// retryable: rate limits, server errors and dropped connections; not auth,
// not-found, refused connections, TLS problems or corrupt sources.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ls *lostSession
	if errors.As(err, &ls) {
		return true
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return regerr.Retryable(err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		// The transport closes a connection the server dropped while the
		// request body was still being written.
		errors.Is(err, net.ErrClosed) {
		return true
	}
	s := err.Error()
	return regerr.Retryable(err) || strings.Contains(s, "download ended early") ||
		// A token refresh resent a half-consumed stream; a new attempt works.
		strings.Contains(s, "with Body length")
}

// sourceDescriber is implemented by pkg/auth's Keychain: it says where the
// credentials came from, without the credentials.
type sourceDescriber interface {
	Source(registry string) string
}

// explain turns a failure into one message that names what failed and
// says what to do. Nothing of a request but method, host and path is
// quoted, so neither credentials nor signed upload URLs leak.
func (d *dest) explain(err error, what string) error {
	prefix := d.target
	if what != "" {
		prefix = what
	}
	var se *sourceError
	if errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	reg := d.reg.RegistryStr()
	creds := "from the given keychain"
	if sd, ok := d.keychain.(sourceDescriber); ok {
		creds = sd.Source(reg)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		detail := regerr.Diagnostics(te)
		switch {
		case te.StatusCode == http.StatusUnauthorized || regerr.HasCode(te, transport.UnauthorizedErrorCode):
			return fmt.Errorf("%s: authentication failed for %s (HTTP %d%s; credentials: %s): log in (docker login %s) or configure a credential helper",
				prefix, reg, te.StatusCode, detail, creds, reg)
		case te.StatusCode == http.StatusForbidden || regerr.HasCode(te, transport.DeniedErrorCode):
			return fmt.Errorf("%s: %s denied the push (HTTP %d%s; credentials: %s): check the repository name and that these credentials may push to it",
				prefix, reg, te.StatusCode, detail, creds)
		case regerr.HasCode(te, transport.DigestInvalidErrorCode):
			return fmt.Errorf("%s: %s found that the bytes sent do not match their digest (HTTP %d%s): %s",
				prefix, reg, te.StatusCode, detail, image.ChangedOutput)
		case regerr.HasCode(te, transport.NameUnknownErrorCode):
			return fmt.Errorf("%s: %s does not know repository %s (HTTP %d%s): create it first, or check the name", prefix, reg, d.repo, te.StatusCode, detail)
		case te.StatusCode == http.StatusTooManyRequests || regerr.HasCode(te, transport.TooManyRequestsErrorCode):
			return fmt.Errorf("%s: %s is rate limiting requests (HTTP %d%s), still after %d attempts: retry later", prefix, reg, te.StatusCode, detail, maxAttempts)
		case te.StatusCode >= 500:
			return fmt.Errorf("%s: %s failed with HTTP %d%s, still after %d attempts: the registry has a problem; retry later", prefix, reg, te.StatusCode, detail, maxAttempts)
		}
		return fmt.Errorf("%s: %s answered HTTP %d%s", prefix, reg, te.StatusCode, detail)
	}
	if regerr.IsTLS(err) {
		return fmt.Errorf("%s: TLS error talking to %s: %v: fix the registry's certificate or the trust store; use insecure only for registries you trust",
			prefix, reg, regerr.Innermost(err))
	}
	if regerr.IsRedirectLoop(err) {
		return fmt.Errorf("%s: %s redirects in a loop (gave up after 10 redirects): check the registry address; a proxy or login page may be in front of the registry", prefix, reg)
	}
	if regerr.IsNotJSON(err) {
		return fmt.Errorf("%s: %s (or its token service) answered with something other than JSON, likely an HTML page: check the registry address; a proxy or login page may be in front of the registry", prefix, reg)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%s: %s speaks plain HTTP, not HTTPS: use insecure only for plain-HTTP registries you trust", prefix, reg)
	}
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: cannot connect to %s: connection refused: is the registry running and is the address right?", prefix, reg)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%s: cannot resolve %s: %v: check the registry name and your network", prefix, reg, dnsErr)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: timed out talking to %s, still after %d attempts: %v", prefix, reg, maxAttempts, regerr.Innermost(err))
	case retryable(err):
		return fmt.Errorf("%s: connection to %s broke, still after %d attempts: %v", prefix, reg, maxAttempts, regerr.Innermost(err))
	}
	return fmt.Errorf("%s: %v", prefix, regerr.OneLine(redact(err)))
}

// redact rewrites a url.Error without the query, which for upload
// sessions may hold signed state.
func redact(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return ue.Err
	}
	return fmt.Errorf("%s %s%s: %w", ue.Op, u.Host, u.Path, ue.Err)
}
