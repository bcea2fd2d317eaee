package bes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	build "google.golang.org/genproto/googleapis/devtools/build/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rules-img/rules_img/pkg/cas"
)

// syncBuffer collects the backend's log across its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startBackend serves b over gRPC on loopback, as img bes does, and
// returns a client: these tests speak the protocol as Bazel would, with
// events Bazel never sends.
func startBackend(t *testing.T, b *Backend) build.PublishBuildEventClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	build.RegisterPublishBuildEventServer(srv, b)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return build.NewPublishBuildEventClient(conn)
}

func bazelEvent(seq int64, payload []byte) *build.PublishBuildToolEventStreamRequest {
	return &build.PublishBuildToolEventStreamRequest{OrderedBuildEvent: &build.OrderedBuildEvent{
		StreamId:       &build.StreamId{BuildId: "b", InvocationId: "i"},
		SequenceNumber: seq,
		Event: &build.BuildEvent{Event: &build.BuildEvent_BazelEvent{BazelEvent: &anypb.Any{
			TypeUrl: bepTypeURL, Value: payload,
		}}},
	}}
}

// run sends events and returns the acknowledged sequence numbers and the
// stream's final error.
func run(t *testing.T, c build.PublishBuildEventClient, events ...[]byte) ([]int64, error) {
	t.Helper()
	stream, err := c.PublishBuildToolEventStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if err := stream.Send(bazelEvent(int64(i+1), e)); err != nil {
			break // the server ended the stream; Recv says why
		}
	}
	stream.CloseSend()
	var acks []int64
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return acks, nil
		}
		if err != nil {
			return acks, err
		}
		acks = append(acks, r.GetSequenceNumber())
	}
}

func started(uuid string) []byte {
	return msg(fieldEventStarted, msg(fieldStartedUUID, uuid, fieldStartedCommand, "build"))
}

func pushSet(id string) []byte {
	return msg(fieldEventID, msg(fieldIDNamedSet, msg(fieldNamedSetID, id)),
		fieldEventNamedSet, msg(fieldSetFiles, msg(fieldFileName, "app/push"+"."+"img_push.json",
			fieldFileURI, "bytestream://cas:1/blobs/"+strings.Repeat("ab", 32)+"/10")))
}

func completed(label, set string) []byte {
	return msg(fieldEventID, msg(fieldIDTargetCompleted, msg(fieldTargetLabel, label)),
		fieldEventCompleted, msg(fieldCompleteSuccess, uint64(1),
			fieldCompleteGroups, msg(fieldGroupName, "default", fieldGroupSets, msg(fieldNamedSetID, set))))
}

func TestUndecodableEventFailsTheStream(t *testing.T) {
	logs := &syncBuffer{}
	c := startBackend(t, &Backend{Log: log.New(logs, "", 0), Store: func(string) (cas.Store, error) {
		return nil, errors.New("no CAS here")
	}})
	// A truncated length-delimited field: the event cannot be read, so the
	// push it may hold cannot be either.
	bad := append(msg(fieldEventID, msg(fieldIDNamedSet, msg(fieldNamedSetID, "1"))), 0x7a, 0x40, 0x01)
	acks, err := run(t, c, started("u1"), bad, pushSet("2"))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "event 2") {
		t.Fatalf("stream ended with %v, want INVALID_ARGUMENT naming event 2", err)
	}
	if len(acks) != 0 {
		t.Errorf("events %v acknowledged; Bazel would count them delivered", acks)
	}
}

func TestAcksForALongStream(t *testing.T) {
	c := startBackend(t, &Backend{Log: log.New(io.Discard, "", 0)})
	events := [][]byte{started("u")}
	for i := range 5000 {
		// Sets without push requests are dropped on arrival.
		events = append(events, msg(fieldEventID, msg(fieldIDNamedSet, msg(fieldNamedSetID, fmt.Sprint(i))),
			fieldEventNamedSet, msg(fieldSetFiles, msg(fieldFileName, "out/file.o", fieldFileURI, "bytestream://x/blobs/ab/1"))))
	}
	acks, err := run(t, c, events...)
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != len(events) {
		t.Fatalf("%d acks for %d events", len(acks), len(events))
	}
	for i, a := range acks {
		if a != int64(i+1) {
			t.Fatalf("ack %d is for event %d", i, a)
		}
	}
}

// TestPushesReadNoSharedState runs under -race (tools/test.sh): a push that
// fails while the stream goes on must not read the stream's state.
func TestPushesReadNoSharedState(t *testing.T) {
	logs := &syncBuffer{}
	c := startBackend(t, &Backend{Log: log.New(logs, "", 0), Store: func(string) (cas.Store, error) {
		return nil, errors.New("no CAS here")
	}})
	var events [][]byte
	for i := range 20 {
		set := fmt.Sprint(i)
		events = append(events, started(fmt.Sprintf("u%d", i)), pushSet(set), completed(fmt.Sprintf("//app:push%d", i), set))
	}
	_, err := run(t, c, events...)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "20 image push(es) failed") || !strings.Contains(err.Error(), "//app:push7: no CAS here") {
		t.Fatalf("stream ended with %v", err)
	}
	if !strings.Contains(logs.String(), "build u0: FAILED //app:push0") {
		t.Errorf("log does not name the build of each push:\n%s", logs)
	}
}

type closeCounter struct {
	cas.Store
	closed *int
}

func (c closeCounter) Close() error { *c.closed++; return nil }

func TestStoresAreBounded(t *testing.T) {
	opened, closed := 0, 0
	s := &Stores{Max: 4, Open: func(instance string) (cas.Store, error) {
		opened++
		return closeCounter{closed: &closed}, nil
	}}
	for i := range 100 {
		if _, err := s.Get(fmt.Sprint("instance-", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get("main"); err != nil { // used all along: never evicted
			t.Fatal(err)
		}
	}
	if s.Len() != 4 || opened != 101 || closed != 97 {
		t.Errorf("kept %d, opened %d, closed %d; want 4, 101, 97", s.Len(), opened, closed)
	}
}

// blockingStore never answers until the push's context ends.
type blockingStore struct{ cas.Store }

func (blockingStore) Open(ctx context.Context, _ string, _ int64) (io.ReadCloser, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (blockingStore) String() string { return "a cache that never answers" }

func TestPushesHaveADeadline(t *testing.T) {
	logs := &syncBuffer{}
	c := startBackend(t, &Backend{Log: log.New(logs, "", 0), PushTimeout: 200 * time.Millisecond,
		Store: func(string) (cas.Store, error) { return blockingStore{}, nil }})
	// The store answers only when the push's context ends: the stream can
	// end only through the deadline.
	_, err := run(t, c, started("u"), pushSet("1"), completed("//app:push", "1"))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "//app:push") || !strings.Contains(err.Error(), "--push-timeout") {
		t.Fatalf("stream ended with %v, want the push failed naming its target and the timeout", err)
	}
}
