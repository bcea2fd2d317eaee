package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
)

// Blob is one blob to upload. Open gives a stream that checks the length
// (and the digest, unless the bytes are a build output); the registry hashes
// them at the commit anyway.
type Blob struct {
	Digest string
	Size   int64
	Open   func(context.Context) (io.ReadCloser, error)
}

// BlobExists reports whether the repository has the blob.
func (r *Repo) BlobExists(ctx context.Context, digest string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, r.URL("blobs", digest), nil)
	if err != nil {
		return false, err
	}
	resp, err := r.Do(req, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	Drain(resp)
	return resp.StatusCode == http.StatusOK, nil
}

// MountBlob asks the registry to link the blob from another repository.
// When it cannot, it opens an upload session instead, which is returned
// for the fallback upload.
func (r *Repo) MountBlob(ctx context.Context, digest, from string) (mounted bool, session *url.URL, err error) {
	q := url.Values{"mount": {digest}, "from": {from}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL("blobs", "uploads/")+"?"+q.Encode(), nil)
	if err != nil {
		return false, nil, err
	}
	resp, err := r.Do(req, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, nil, err
	}
	Drain(resp)
	if resp.StatusCode == http.StatusCreated {
		return true, nil, nil
	}
	session, err = location(resp)
	return false, session, err
}

// startUpload opens an upload session.
func (r *Repo) startUpload(ctx context.Context) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL("blobs", "uploads/"), nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.Do(req, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	Drain(resp)
	return location(resp)
}

// SourceError is a failure to read the blob we upload, as opposed to one
// of the registry we upload to.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return "reading the blob: " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// UploadBlob streams the blob into session (a new one when nil): one PATCH
// with the whole stream, then PUT ?digest= to commit. onBytes sees every
// chunk sent; the caller undoes the count of a failed attempt.
func (r *Repo) UploadBlob(ctx context.Context, session *url.URL, b Blob, onBytes func(int64)) error {
	var err error
	if session == nil {
		// Opening a session sends no data: retry it alone.
		err = r.Retry(ctx, func() (err error) {
			session, err = r.startUpload(ctx)
			return err
		})
		if err != nil {
			return err
		}
	}
	rc, err := b.Open(ctx)
	if err != nil {
		return &SourceError{err}
	}
	body := &uploadBody{r: rc, onRead: onBytes}
	defer body.Close()

	commit := session
	if b.Size == 0 {
		// An empty PATCH body would go out chunked; just check the source.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return &SourceError{err}
		}
	} else {
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, session.String(), body)
		if err != nil {
			return err
		}
		req.ContentLength = b.Size
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := r.Do(req, http.StatusAccepted, http.StatusNoContent, http.StatusCreated)
		// The source's error explains a failed request best.
		if serr := body.failure(); serr != nil {
			if err == nil {
				Drain(resp)
			}
			return &SourceError{serr}
		}
		if err != nil {
			return sessionLost(err)
		}
		Drain(resp)
		if !body.complete() {
			return protocolError("registry answered before it received the whole blob")
		}
		if commit, err = location(resp); err != nil {
			return err
		}
	}
	q := commit.Query()
	q.Set("digest", b.Digest)
	commit.RawQuery = q.Encode()
	// The commit carries no body, so it is retried alone rather than
	// resending the blob; if an earlier try went through but its answer
	// was lost, the blob is there and that is success.
	err = r.Retry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, commit.String(), http.NoBody)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := r.Do(req, http.StatusCreated)
		if err != nil {
			return err
		}
		Drain(resp)
		return nil
	})
	if err != nil {
		// The check is retried too: under a flaky registry it can fail
		// just like the commit did.
		var ok bool
		herr := r.Retry(ctx, func() (err error) {
			ok, err = r.BlobExists(ctx, b.Digest)
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

// HasManifest reports whether ref (a digest or a tag) already names the
// manifest with digest, so a re-push sends no manifest bytes. Any failure
// just means no.
func (r *Repo) HasManifest(ctx context.Context, ref, mediaType, digest string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, r.URL("manifests", ref), nil)
	if err != nil {
		return false
	}
	req.Header.Set("Accept", mediaType)
	resp, err := r.Do(req, http.StatusOK)
	if err != nil {
		return false
	}
	Drain(resp)
	return resp.Header.Get("Docker-Content-Digest") == digest
}

// PutManifest uploads raw under ref (a digest or a tag) and checks that
// the registry kept it byte for byte.
func (r *Repo) PutManifest(ctx context.Context, ref, mediaType, digest string, raw []byte) error {
	_, err := r.putManifest(ctx, ref, mediaType, digest, raw, "")
	return err
}

// putManifest is PutManifest returning the answer's headers; a non-empty
// etag makes the put conditional (If-Match).
func (r *Repo) putManifest(ctx context.Context, ref, mediaType, digest string, raw []byte, etag string) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, r.URL("manifests", ref), bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mediaType)
	if etag != "" {
		req.Header.Set("If-Match", etag)
	}
	resp, err := r.Do(req, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	Drain(resp)
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest {
		return nil, protocolError(fmt.Sprintf("registry stored it as %s, not %s: it rewrote the manifest", got, digest))
	}
	return resp.Header, nil
}
