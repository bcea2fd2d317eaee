package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/rules-img/rules_img/pkg/atomicfile"
	prog "github.com/rules-img/rules_img/pkg/internal/progress"
	"github.com/rules-img/rules_img/pkg/internal/text"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
)

// FetchOptions configures FetchBlob.
type FetchOptions struct {
	Keychain authn.Keychain // nil: anonymous
	// Insecure allows plain HTTP and skips TLS verification. Loopback
	// registries may use plain HTTP without it.
	Insecure bool
	Name     string    // what to call the download in progress lines
	Progress io.Writer // progress lines for long downloads; nil: none
	// Gateway, when set, receives the requests instead of the registry.
	Gateway *registry.Gateway
}

// FetchBlob downloads one blob from src to the file dst, streaming and
// checking it against digest and size. The file appears (via dst.partial
// and a rename) only when it verified.
func FetchBlob(ctx context.Context, src oci.BlobSource, digest string, size int64, dst string, opts FetchOptions) error {
	if err := oci.CheckDigest(digest); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("blob %s: size %d is invalid", digest, size)
	}
	image := src.Registry + "/" + src.Repository + "@" + digest
	c, err := newClient(ctx, src.Registry, src.Repository, opts.Keychain, opts.Insecure, image, opts.Gateway)
	if err != nil {
		return err
	}
	label := "img fetch-blob"
	if opts.Name != "" {
		label += " " + opts.Name
	}
	p := startProgress(opts.Progress, label, size)
	defer p.stop()
	return c.downloadBlob(ctx, digest, size, dst, p, "blob")
}

// downloadBlob streams a blob into dst via dst.partial. A failed attempt
// starts over: blobs are content-addressed, so nothing half-written is kept.
func (c *client) downloadBlob(ctx context.Context, digest string, size int64, dst string, p *progress, what string) error {
	err := c.Retry(ctx, func() error {
		return atomicfile.Write(dst, func(w io.Writer) error {
			n, err := c.streamBlob(ctx, digest, size, w, p)
			if err != nil {
				p.add(-n) // the retry counts these bytes again
			}
			return err
		})
	})
	if err != nil {
		return c.explain(err, what)
	}
	return nil
}

// streamBlob copies one GET of the blob to w and verifies it.
func (c *client) streamBlob(ctx context.Context, digest string, size int64, w io.Writer, p *progress) (int64, error) {
	resp, err := c.Get(ctx, c.URL("blobs", digest), "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.ContentLength >= 0 && resp.ContentLength != size {
		return 0, fmt.Errorf("registry announced %d bytes, but the blob is referenced with size %d", resp.ContentLength, size)
	}
	hw := &hashingWriter{h: sha256.New(), onWrite: func(n int) { p.add(int64(n)) }}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(io.MultiWriter(w, hw), io.LimitReader(resp.Body, size+1), buf)
	c.transferred.Add(n)
	switch {
	case err != nil:
		return n, err
	case n < size:
		return n, fmt.Errorf("%w: got %d of %d bytes", registry.ErrShortBlob, n, size)
	case n > size:
		return n, fmt.Errorf("registry sent more than the referenced size %d", size)
	}
	if got := "sha256:" + hex.EncodeToString(hw.h.Sum(nil)); got != digest {
		return n, &DigestMismatchError{Image: c.image, What: "blob", Want: digest, Got: got}
	}
	return n, nil
}

// progressInterval is how often a long download reports.
var progressInterval = 5 * time.Second

// progress prints "LABEL: done/total MiB" every progressInterval until
// stopped, so a multi-GiB pull does not look hung. A nil writer makes it
// count silently.
type progress struct {
	done atomic.Int64
	stop func()
}

func startProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{}
	p.stop = prog.Every(w, progressInterval, func() string {
		return fmt.Sprintf("%s: %s/%s MiB", label, text.MiB(p.done.Load()), text.MiB(total))
	})
	return p
}

func (p *progress) add(n int64) { p.done.Add(n) }
