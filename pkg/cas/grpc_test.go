package cas

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// byteStream is a read-only ByteStream server over a map of resource names.
type byteStream struct {
	bytestream.UnimplementedByteStreamServer
	mu          sync.Mutex
	blobs       map[string][]byte // resource name → data
	unavailable int               // fail this many Reads with UNAVAILABLE first
	truncate    bool              // send only half of each blob
	reads       int
	md          []metadata.MD
}

func (b *byteStream) Read(req *bytestream.ReadRequest, stream bytestream.ByteStream_ReadServer) error {
	b.mu.Lock()
	b.reads++
	md, _ := metadata.FromIncomingContext(stream.Context())
	b.md = append(b.md, md)
	fail := b.unavailable > 0
	if fail {
		b.unavailable--
	}
	data, ok := b.blobs[req.ResourceName]
	truncate := b.truncate
	b.mu.Unlock()
	if fail {
		return status.Error(codes.Unavailable, "try later")
	}
	if !ok {
		return status.Errorf(codes.NotFound, "%s not found", req.ResourceName)
	}
	if truncate {
		data = data[:len(data)/2]
	}
	// Small chunks so readers see several messages.
	for len(data) > 0 {
		n := min(len(data), 3)
		if err := stream.Send(&bytestream.ReadResponse{Data: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func startByteStream(t *testing.T, network, addr string, blobs map[string][]byte) (*byteStream, net.Listener) {
	lis, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	bs := &byteStream{blobs: blobs}
	srv := grpc.NewServer()
	bytestream.RegisterByteStreamServer(srv, bs)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return bs, lis
}

func resourceOf(instance string, data []byte) string {
	r := "blobs/" + strings.TrimPrefix(digestOf(data), "sha256:") + "/" + strconv.Itoa(len(data))
	if instance != "" {
		r = instance + "/" + r
	}
	return r
}

func closeStore(s Store) {
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
}

func TestGRPC(t *testing.T) {
	data := []byte("a layer from the remote cache")
	inst := []byte("only in an instance")
	bs, lis := startByteStream(t, "tcp", "127.0.0.1:0", map[string][]byte{
		resourceOf("", data):        data,
		resourceOf("main/ci", inst): inst,
	})
	s, err := Open("grpc://"+lis.Addr().String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(s)
	readBlob(t, s, data)
	if _, err := s.Open(context.Background(), digestOf(inst), int64(len(inst))); !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
	// The empty blob needs no request.
	readBlob(t, s, nil)

	si, err := Open("grpc://"+lis.Addr().String(), Options{InstanceName: "main/ci"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(si)
	if !strings.Contains(si.String(), "main/ci") {
		t.Errorf("String() = %q, want the instance in it", si)
	}
	readBlob(t, si, inst)
	if _, err := si.Open(context.Background(), digestOf(data), int64(len(data))); !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}

	// UNAVAILABLE is retried.
	bs.mu.Lock()
	bs.unavailable, bs.reads = 2, 0
	bs.mu.Unlock()
	readBlob(t, s, data)
	if bs.reads != 3 {
		t.Errorf("%d reads, want 3", bs.reads)
	}
	bs.mu.Lock()
	bs.unavailable = 100
	bs.mu.Unlock()
	if _, err := s.Open(context.Background(), digestOf(data), int64(len(data))); status.Code(err) != codes.Unavailable {
		t.Errorf("got %v, want UNAVAILABLE", err)
	}
	bs.mu.Lock()
	bs.unavailable, bs.truncate = 0, true
	bs.mu.Unlock()
	rc, err := s.Open(context.Background(), digestOf(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated stream: %v, want ErrUnexpectedEOF", err)
	}
	rc.Close()
}

func TestGRPCUnixAndCredentialHelper(t *testing.T) {
	data := []byte("over a unix socket")
	sock := filepath.Join(t.TempDir(), "cas.sock")
	bs, _ := startByteStream(t, "unix", sock, map[string][]byte{resourceOf("", data): data})
	helper, requests := writeHelper(t, `{"headers":{"Authorization":["Bearer grpc-tok"],"X-Two":["1","2"]}}`, 0)
	s, err := Open("unix://"+sock, Options{CredentialHelper: helper})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(s)
	readBlob(t, s, data)
	readBlob(t, s, data)
	md := bs.md[0]
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer grpc-tok" {
		t.Errorf("authorization metadata %q", got)
	}
	if got := md.Get("x-two"); strings.Join(got, ",") != "1,2" {
		t.Errorf("x-two metadata %q", got)
	}
	log, _ := os.ReadFile(requests)
	if got := strings.TrimSpace(string(log)); got != `{"uri":"https://localhost/google.bytestream.ByteStream"}` {
		t.Errorf("helper requests %q, want one for the ByteStream service", got)
	}
}
