package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
)

// OpenBlob streams one blob from src, for copying registry → registry without a temp file.
//
// Opening (handshake and GET) is retried like every other request. Once the
// body streams, a broken connection cannot be resumed here: Read returns an
// explained error that still wraps the cause, so a caller can tell it is
// transient and start over. The digest is not checked (wrap the reader with
// image.Verify); the length is.
func OpenBlob(ctx context.Context, src oci.BlobSource, digest string, size int64, opts FetchOptions) (io.ReadCloser, error) {
	if err := oci.CheckDigest(digest); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("blob %s: size %d is invalid", digest, size)
	}
	image := src.Registry + "/" + src.Repository + "@" + digest
	c, err := newClient(ctx, src.Registry, src.Repository, opts.Keychain, opts.Insecure, image, opts.Gateway)
	if err != nil {
		return nil, err
	}
	var resp *http.Response
	err = c.Retry(ctx, func() error {
		r, err := c.Get(ctx, c.URL("blobs", digest), "")
		if err != nil {
			return err
		}
		if r.ContentLength >= 0 && r.ContentLength != size {
			r.Body.Close()
			return fmt.Errorf("registry announced %d bytes, but the blob is referenced with size %d", r.ContentLength, size)
		}
		resp = r
		return nil
	})
	if err != nil {
		return nil, c.explain(err, "blob")
	}
	label := "img fetch-blob"
	if opts.Name != "" {
		label += " " + opts.Name
	}
	return &blobStream{c: c, body: resp.Body, size: size, p: startProgress(opts.Progress, label, size)}, nil
}

// blobStream is the body of one blob GET, length-checked.
type blobStream struct {
	c    *client
	body io.ReadCloser
	size int64
	n    int64
	p    *progress
	once sync.Once
}

func (s *blobStream) Read(b []byte) (int, error) {
	n, err := s.body.Read(b)
	s.n += int64(n)
	s.p.add(int64(n))
	s.c.transferred.Add(int64(n))
	switch {
	case s.n > s.size:
		return n, fmt.Errorf("%s: registry sent more than the referenced size %d", s.c.image, s.size)
	case err == io.EOF && s.n < s.size:
		return n, fmt.Errorf("%s: blob: %w: got %d of %d bytes from %s", s.c.image, registry.ErrShortBlob, s.n, s.size, s.c.Host())
	case err != nil && err != io.EOF && !errors.Is(err, context.Canceled):
		// %w keeps the cause visible to retry logic of the caller.
		return n, fmt.Errorf("%s: blob: connection to %s broke after %d of %d bytes: %w", s.c.image, s.c.Host(), s.n, s.size, err)
	}
	return n, err
}

func (s *blobStream) Close() error {
	var err error
	s.once.Do(func() {
		err = s.body.Close()
		s.p.stop()
	})
	return err
}
