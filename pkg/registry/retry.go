package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
)

// Policy is how often and how patiently a request is retried.
type Policy struct {
	Attempts     int
	FirstBackoff time.Duration
	MaxBackoff   time.Duration
}

// The policies of the two directions. A push gets one attempt more: its
// uploads are long, and a registry under load drops more of them. Variables
// so tests need not sleep.
var (
	PullPolicy = Policy{Attempts: 4, FirstBackoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second}
	PushPolicy = Policy{Attempts: 5, FirstBackoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second}
)

// ErrShortBlob means the connection ended before the blob did.
var ErrShortBlob = errors.New("download ended early")

// Retry runs f until it succeeds, fails for good, or attempts run out. A
// Retry-After the registry sent stretches the wait.
func (r *Repo) Retry(ctx context.Context, f func() error) error {
	return r.policy.Retry(ctx, f)
}

// Retry runs f under p.
func (p Policy) Retry(ctx context.Context, f func() error) error {
	backoff := p.FirstBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt >= p.Attempts || !Retryable(err) || ctx.Err() != nil {
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
		backoff = min(backoff*2, p.MaxBackoff)
	}
}

// Retryable: rate limits, server errors, lost upload sessions and dropped
// connections; not auth, not-found, refused connections, TLS problems or
// corrupt sources, which a retry won't fix.
func Retryable(err error) bool {
	// A deadline of the caller's context ends Retry by itself; one of the
	// transport (no response headers in time) is worth another attempt.
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ls *lostSession
	if errors.As(err, &ls) || errors.Is(err, ErrShortBlob) {
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
	// A blob streamed from another registry broke off (its error may
	// reach us as text only), or a token refresh resent a half-consumed
	// stream: a new attempt works.
	return regerr.Retryable(err) || strings.Contains(s, ErrShortBlob.Error()) || strings.Contains(s, "with Body length")
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
