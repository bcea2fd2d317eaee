// Package bes is a Build Event Service backend that pushes images: when a
// build's event stream reports an image_push target built with push
// strategy "bes", it reads the target's push request from the CAS and pushes
// the image with the same code `img deploy` uses. Layer bytes go from the
// CAS to the registry; the machine running Bazel only sends events.
//
// The backend keeps nothing but what one stream needs, so a restart loses
// at most the pushes in flight, and the next build redoes them.
package bes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	build "google.golang.org/genproto/googleapis/devtools/build/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/deploy"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/push"
	"github.com/rules-img/rules_img/pkg/sign"
)

// maxRequestSize bounds a push request read from the CAS: it holds JSON
// metadata only, so anything larger is not one.
const maxRequestSize = 64 << 20

// Backend serves google.devtools.build.v1.PublishBuildEvent.
type Backend struct {
	build.UnimplementedPublishBuildEventServer

	// Store returns the CAS for a REAPI instance name (the one in the
	// bytestream:// URIs Bazel reports).
	Store func(instance string) (cas.Store, error)
	// Log receives one line per push and its progress.
	Log *log.Logger
	// Jobs bounds the pushes running at once over all streams.
	Jobs int
	// PushTimeout bounds one push (0: DefaultPushTimeout), so a registry
	// that stops answering fails the push instead of holding the build.
	PushTimeout time.Duration
	// Signer signs the pushes whose targets ask for it (sign = enabled or
	// best_effort); nil: such pushes fail, or warn when best_effort.
	Signer *sign.Plugin

	once   sync.Once
	sem    chan struct{}
	shared push.Shared
}

// DefaultPushTimeout is Backend.PushTimeout's default.
const DefaultPushTimeout = 30 * time.Minute

// maxSets bounds the file sets one stream may announce that hold a push
// request or name other sets; other sets cost nothing. A build has a few
// per target; a stream past this is not a build's.
const maxSets = 1 << 20

// PublishLifecycleEvent accepts lifecycle events; nothing in them matters.
func (b *Backend) PublishLifecycleEvent(context.Context, *build.PublishLifecycleEventRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// PublishBuildToolEventStream reads one invocation's events and pushes as
// push targets complete. Events are acknowledged only at the end, when every
// push is done: Bazel waits for the acknowledgements before the build
// returns, so the images are in the registry when it ends, and a backend
// that restarts mid-build gets every event again on Bazel's retry and redoes
// the pushes (which then move only what the registry lacks). Failed pushes
// end the stream with FAILED_PRECONDITION naming each target and its cause;
// Bazel prints that as the Build Event Protocol upload error.
func (b *Backend) PublishBuildToolEventStream(stream build.PublishBuildEvent_PublishBuildToolEventStreamServer) error {
	b.once.Do(func() {
		jobs := b.Jobs
		if jobs <= 0 {
			jobs = 8
		}
		b.sem = make(chan struct{}, jobs)
	})
	s := &invocation{b: b, ctx: stream.Context(), sets: map[string]*namedSet{}}
	var acks ackRanges
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil {
			oe := req.GetOrderedBuildEvent()
			if err = s.handle(oe.GetEvent()); err != nil {
				// Acknowledging an event this backend could not read would
				// let a build pass whose push never ran.
				err = status.Errorf(codes.InvalidArgument, "rules_img bes: event %d: %v", oe.GetSequenceNumber(), err)
			}
			acks.add(oe.GetStreamId(), oe.GetSequenceNumber())
		}
		if err != nil {
			s.wg.Wait()
			b.Log.Printf("build %s: event stream broken: %v (%d pushes finished; Bazel resends the events it retries with)", s.uuid, err, s.pushed)
			return err
		}
	}
	s.wg.Wait()
	if len(s.failures) > 0 {
		sort.Strings(s.failures)
		b.Log.Printf("build %s: %d of %d pushes failed", s.uuid, len(s.failures), s.pushed+len(s.failures))
		return status.Errorf(codes.FailedPrecondition, "rules_img bes: %d image push(es) failed:\n%s", len(s.failures), strings.Join(s.failures, "\n"))
	}
	if s.pushed > 0 {
		b.Log.Printf("build %s: %d image(s) pushed", s.uuid, s.pushed)
	}
	return acks.send(stream)
}

// ackRanges holds the events to acknowledge as runs of sequence numbers
// (Bazel numbers them 1, 2, 3, ...), so a long stream costs a few words.
type ackRanges []ackRange

type ackRange struct {
	id       *build.StreamId
	from, to int64
}

func (a *ackRanges) add(id *build.StreamId, seq int64) {
	if n := len(*a); n > 0 {
		last := &(*a)[n-1]
		if last.to+1 == seq && proto.Equal(last.id, id) {
			last.to = seq
			return
		}
	}
	*a = append(*a, ackRange{id: id, from: seq, to: seq})
}

func (a ackRanges) send(stream build.PublishBuildEvent_PublishBuildToolEventStreamServer) error {
	for _, r := range a {
		for seq := r.from; seq <= r.to; seq++ {
			if err := stream.Send(&build.PublishBuildToolEventStreamResponse{StreamId: r.id, SequenceNumber: seq}); err != nil {
				return err
			}
		}
	}
	return nil
}

// invocation is the state of one event stream. Only the stream's goroutine
// touches uuid and sets; pushes get copies.
type invocation struct {
	b    *Backend
	ctx  context.Context
	uuid string
	sets map[string]*namedSet // only sets with push requests or children
	wg   sync.WaitGroup

	mu       sync.Mutex
	pushed   int
	failures []string
}

type namedSet struct {
	files    []file
	children []string
}

// handle reads one event and starts the pushes it calls for.
func (s *invocation) handle(ev *build.BuildEvent) error {
	be := ev.GetBazelEvent()
	if be == nil || be.GetTypeUrl() != bepTypeURL {
		return nil
	}
	e, err := decodeEvent(be.GetValue())
	if err != nil {
		return err
	}
	switch {
	case e.uuid != "":
		s.uuid = e.uuid
	case e.setID != "":
		// Keep what walk reads, nothing else: an empty set is one that
		// holds no push request.
		set := &namedSet{children: e.setChildren}
		for _, f := range e.setFiles {
			if strings.HasSuffix(f.name, deploy.RequestSuffix) {
				set.files = append(set.files, f)
			}
		}
		if len(set.files) == 0 && len(set.children) == 0 {
			return nil
		}
		if len(s.sets) >= maxSets {
			return fmt.Errorf("more than %d file sets with push requests or children in one stream", maxSets)
		}
		s.sets[e.setID] = set
	case e.completed && e.success && e.aspect == "":
		var requests []file
		s.walk(e.defaultSets, map[string]bool{}, &requests)
		uuid := s.uuid
		for _, f := range requests {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.push(uuid, e.label, f)
			}()
		}
	}
	return nil
}

// walk collects the push requests among the files of sets and their
// children. A set never stored held none.
func (s *invocation) walk(ids []string, seen map[string]bool, out *[]file) {
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		set, ok := s.sets[id]
		if !ok {
			continue
		}
		*out = append(*out, set.files...)
		s.walk(set.children, seen, out)
	}
}

func (s *invocation) push(uuid, label string, f file) {
	select {
	case s.b.sem <- struct{}{}:
		defer func() { <-s.b.sem }()
	case <-s.ctx.Done():
		s.fail(uuid, label, s.ctx.Err())
		return
	}
	timeout := s.b.PushTimeout
	if timeout <= 0 {
		timeout = DefaultPushTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	msg, err := s.b.pushRequest(ctx, label, f)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("not done after %s (img bes --push-timeout): %w", timeout, err)
		}
		s.fail(uuid, label, err)
		return
	}
	s.mu.Lock()
	s.pushed++
	s.mu.Unlock()
	s.b.Log.Printf("build %s: pushed %s", uuid, msg)
}

func (s *invocation) fail(uuid, label string, err error) {
	// deploy's errors mostly start with the label already.
	line := err.Error()
	if !strings.HasPrefix(line, label) {
		line = label + ": " + line
	}
	s.mu.Lock()
	s.failures = append(s.failures, line)
	s.mu.Unlock()
	s.b.Log.Printf("build %s: FAILED %s", uuid, line)
}

// pushRequest reads a push request from the CAS and runs it.
func (b *Backend) pushRequest(ctx context.Context, label string, f file) (string, error) {
	instance, digest, size, err := parseBytestreamURI(f.uri)
	if err != nil {
		return "", fmt.Errorf("push request %s: %w", f.name, err)
	}
	store, err := b.Store(instance)
	if err != nil {
		return "", err
	}
	r, err := store.Open(ctx, digest, size)
	if err != nil {
		return "", fmt.Errorf("push request %s: %w", f.name, err)
	}
	// The size is bounded by parseBytestreamURI; Verify fails on any byte
	// that does not match the digest.
	v := image.Verify(r, digest, size, "push request "+f.name)
	data, err := io.ReadAll(v)
	v.Close()
	if err != nil {
		return "", err
	}
	spec, err := deploy.ParseRequest(data, f.name)
	if err != nil {
		return "", err
	}
	return deploy.Run(ctx, spec, deploy.Overrides{}, deploy.Env{
		Stderr: logWriter{b.Log}, Cache: store, Shared: &b.shared, Getenv: func(string) string { return "" }, Signer: b.Signer,
	})
}

// parseBytestreamURI reads bytestream://HOST[:PORT]/[INSTANCE/]blobs/HASH/SIZE,
// the URI Bazel reports for a file in its remote cache.
func parseBytestreamURI(uri string) (instance, digest string, size int64, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "bytestream" {
		if strings.HasPrefix(uri, "file:") {
			return "", "", 0, fmt.Errorf("Bazel reports it as %s, a file on the machine that ran the build: build with --remote_cache or --remote_executor so that the push request and the layers are in the CAS this backend reads", uri)
		}
		return "", "", 0, fmt.Errorf("%q is not a bytestream:// URI", uri)
	}
	path := strings.TrimPrefix(u.Path, "/")
	parts := strings.Split(path, "/")
	if len(parts) < 3 || parts[len(parts)-3] != "blobs" {
		return "", "", 0, fmt.Errorf("%q is not bytestream://HOST/[INSTANCE/]blobs/HASH/SIZE", uri)
	}
	hash, sz := parts[len(parts)-2], parts[len(parts)-1]
	size, err = strconv.ParseInt(sz, 10, 64)
	if err != nil || size < 0 || size > maxRequestSize {
		return "", "", 0, fmt.Errorf("%q: size %q is not a push request's", uri, sz)
	}
	// Bazel's digest function shows in the hash's length: 64 hex digits
	// for SHA-256, 40 for SHA-1 (--digest_function=SHA1).
	digest = "sha256:" + hash
	if len(hash) == 40 {
		digest = "sha1:" + hash
	}
	if oci.CheckCASDigest(digest) != nil {
		return "", "", 0, fmt.Errorf("%q: %q is not a sha256 or sha1 hash", uri, hash)
	}
	return strings.Join(parts[:len(parts)-3], "/"), digest, size, nil
}

// logWriter turns a push's progress lines into log lines.
type logWriter struct{ l *log.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w.l.Print(line)
		}
	}
	return len(p), nil
}
