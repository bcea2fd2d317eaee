package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rules-img/rules_img/pkg/credhelper"
)

// httpStore speaks Bazel's HTTP cache protocol: GET BASE/cas/<hex>.
type httpStore struct {
	base   string        // scheme://host[:port][/prefix], no userinfo, no trailing slash
	user   *url.Userinfo // basic auth from the endpoint URL, or nil
	helper *credhelper.Helper
	client *http.Client
}

func newHTTP(u *url.URL, helper *credhelper.Helper) *httpStore {
	b := *u
	b.Scheme = strings.ToLower(b.Scheme)
	b.User = nil
	b.Path = strings.TrimRight(b.Path, "/")
	b.RawPath = ""
	t := http.DefaultTransport.(*http.Transport).Clone()
	// No overall timeout, as layers can be large; only a stalled server fails.
	t.ResponseHeaderTimeout = time.Minute
	return &httpStore{base: b.String(), user: u.User, helper: helper, client: &http.Client{Transport: t}}
}

func (s *httpStore) String() string { return s.base }

// transient marks errors worth another attempt.
type transient struct{ err error }

func (t transient) Error() string { return t.err.Error() }
func (t transient) Unwrap() error { return t.err }

func isTransient(ctx context.Context) func(error) bool {
	return func(err error) bool {
		var t transient
		return ctx.Err() == nil && errors.As(err, &t)
	}
}

func (s *httpStore) Open(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	hex, err := parseDigest(digest, size)
	if err != nil {
		return nil, err
	}
	blobURL := s.base + "/cas/" + hex
	open := func(ctx context.Context) (io.ReadCloser, error) {
		return s.get(ctx, blobURL, digest, size)
	}
	rc, err := openWithRetry(ctx, open, isTransient(ctx))
	if err != nil {
		return nil, err
	}
	return &sizedReader{rc: rc, size: size, digest: digest, from: s.base}, nil
}

func (s *httpStore) get(ctx context.Context, blobURL, digest string, size int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, blobURL, nil)
	if err != nil {
		return nil, err
	}
	if s.user != nil {
		pass, _ := s.user.Password()
		req.SetBasicAuth(s.user.Username(), pass)
	}
	if s.helper != nil {
		h, err := s.helper.Headers(ctx, blobURL)
		if err != nil {
			return nil, err
		}
		for k, vs := range h {
			req.Header.Del(k)
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, transient{err}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, digest, s.base)
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		err := fmt.Errorf("cas: GET %s: %s", blobURL, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return nil, transient{err}
		}
		return nil, err
	}
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		resp.Body.Close()
		return nil, fmt.Errorf("cas: GET %s: %d bytes, want %d for %s", blobURL, resp.ContentLength, size, digest)
	}
	return transientBody{resp.Body}, nil
}

// transientBody marks failures while reading the body (a dropped
// connection) as transient; retryReader retries them only before any byte
// reached the caller.
type transientBody struct{ io.ReadCloser }

func (b transientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = transient{err}
	}
	return n, err
}
