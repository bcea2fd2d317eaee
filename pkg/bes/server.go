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

	build "google.golang.org/genproto/googleapis/devtools/build/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/deploy"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/push"
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

	once   sync.Once
	sem    chan struct{}
	shared push.Shared
}

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
	var acks []*build.PublishBuildToolEventStreamResponse
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			s.wg.Wait()
			b.Log.Printf("build %s: event stream broken: %v (%d pushes finished; Bazel resends the events it retries with)", s.uuid, err, s.pushed)
			return err
		}
		oe := req.GetOrderedBuildEvent()
		s.handle(oe.GetEvent())
		acks = append(acks, &build.PublishBuildToolEventStreamResponse{StreamId: oe.GetStreamId(), SequenceNumber: oe.GetSequenceNumber()})
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
	for _, a := range acks {
		if err := stream.Send(a); err != nil {
			return err
		}
	}
	return nil
}

// invocation is the state of one event stream.
type invocation struct {
	b    *Backend
	ctx  context.Context
	uuid string
	sets map[string]*namedSet
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
func (s *invocation) handle(ev *build.BuildEvent) {
	be := ev.GetBazelEvent()
	if be == nil || be.GetTypeUrl() != bepTypeURL {
		return
	}
	e, err := decodeEvent(be.GetValue())
	if err != nil {
		s.b.Log.Printf("build %s: skipping an event: %v", s.uuid, err)
		return
	}
	switch {
	case e.uuid != "":
		s.uuid = e.uuid
	case e.setID != "":
		s.sets[e.setID] = &namedSet{files: e.setFiles, children: e.setChildren}
	case e.completed && e.success && e.aspect == "":
		var requests []file
		var missing []string
		s.walk(e.defaultSets, map[string]bool{}, &requests, &missing)
		if len(missing) > 0 {
			// Bazel announces a set before any event that names it; say so
			// if it did not, since a push could hide behind it.
			s.b.Log.Printf("build %s: %s names file sets %s that the stream never announced", s.uuid, e.label, strings.Join(missing, ", "))
		}
		for _, f := range requests {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.push(e.label, f)
			}()
		}
	}
}

// walk collects the push requests among the files of sets and their
// children.
func (s *invocation) walk(ids []string, seen map[string]bool, out *[]file, missing *[]string) {
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		set, ok := s.sets[id]
		if !ok {
			*missing = append(*missing, id)
			continue
		}
		for _, f := range set.files {
			if strings.HasSuffix(f.name, deploy.RequestSuffix) {
				*out = append(*out, f)
			}
		}
		s.walk(set.children, seen, out, missing)
	}
}

func (s *invocation) push(label string, f file) {
	select {
	case s.b.sem <- struct{}{}:
		defer func() { <-s.b.sem }()
	case <-s.ctx.Done():
		s.fail(label, s.ctx.Err())
		return
	}
	msg, err := s.b.pushRequest(s.ctx, label, f)
	if err != nil {
		s.fail(label, err)
		return
	}
	s.mu.Lock()
	s.pushed++
	s.mu.Unlock()
	s.b.Log.Printf("build %s: pushed %s", s.uuid, msg)
}

func (s *invocation) fail(label string, err error) {
	// deploy's errors mostly start with the label already.
	line := err.Error()
	if !strings.HasPrefix(line, label) {
		line = label + ": " + line
	}
	s.mu.Lock()
	s.failures = append(s.failures, line)
	s.mu.Unlock()
	s.b.Log.Printf("build %s: FAILED %s", s.uuid, line)
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
		Stderr: logWriter{b.Log}, Cache: store, Shared: &b.shared, Getenv: func(string) string { return "" },
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
	if oci.CheckDigest("sha256:"+hash) != nil {
		return "", "", 0, fmt.Errorf("%q: %q is not a sha256 hash", uri, hash)
	}
	return strings.Join(parts[:len(parts)-3], "/"), "sha256:" + hash, size, nil
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
