package push

import (
	"context"
	"sync"
)

// Shared lets pushes that run at once in one process, into repositories of
// the same registry, share their blobs: the first push of a blob uploads it,
// and the others wait for it, then mount it from that repository instead of
// uploading it again. A fleet of images that share a base or binary layer
// then sends that layer once. It only remembers where blobs went; losing it
// costs uploads, never correctness, since a failed mount falls back to
// uploading.
type Shared struct {
	mu sync.Mutex
	m  map[string]*placement // "registry digest"
}

type placement struct {
	done chan struct{}
	repo string // where the blob is, once done; "" when its push failed
	// strict: the push that placed it asked for deduplicated_push =
	// enabled; a mount from it that another strict push needs never falls
	// back to uploading (a lenient one on either side means best effort).
	strict bool
}

// claim returns the placement this push must make (mine), or the one
// another push makes or made (theirs).
func (s *Shared) claim(registry, digest string) (mine, theirs *placement) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*placement{}
	}
	key := registry + " " + digest
	if p, ok := s.m[key]; ok {
		return nil, p
	}
	p := &placement{done: make(chan struct{})}
	s.m[key] = p
	return p, nil
}

// finish records where the blob now is; repo "" forgets the claim, so the
// next push of the blob tries again itself.
func (s *Shared) finish(registry, digest string, p *placement, repo string) {
	s.mu.Lock()
	p.repo = repo
	if repo == "" {
		delete(s.m, registry+" "+digest)
	}
	s.mu.Unlock()
	close(p.done)
}

// forget drops a placement that turned out stale (its repository no longer
// mounts the blob), unless another push has already replaced it.
func (s *Shared) forget(registry, digest string, p *placement) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key := registry + " " + digest; s.m[key] == p {
		delete(s.m, key)
	}
}

// wait returns the repository another push placed the blob in, or "".
func (p *placement) wait(ctx context.Context) (string, error) {
	select {
	case <-p.done:
		return p.repo, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
