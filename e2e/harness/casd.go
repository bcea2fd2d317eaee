package harness

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/bazelbuild/remote-apis/build/bazel/semver"
	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Casd is buildbox-casd (Debian's buildbox): a real REAPI server with CAS,
// ByteStream, action cache and, with Execute, a local Execution service that
// runs actions through buildbox-run-hosttools. Clients talk to it through a
// small gRPC adapter in this process (Addr), which forwards every call as
// raw bytes and changes one field: casd advertises REAPI 2.1 and up, and
// Bazel 7 only speaks 2.0, so the adapter lowers low_api_version in
// GetCapabilities. Everything else is casd's own answer.
type Casd struct {
	top    string
	proc   *daemon
	lis    net.Listener
	srv    *grpc.Server
	conn   *grpc.ClientConn
	port   int
	inst   string
	token  string
	bin    string
	args   []string
	starts int
	reads  atomic.Int64 // ByteStream.Read response bytes through the adapter
	calls  sync.Map     // method -> *atomic.Int64

	unauthenticated atomic.Int64 // calls refused for want of the token

	mu        sync.Mutex
	blobReads map[string]int // ByteStream.Read requests by "sha256:hex"
}

// CasdOptions configures StartCasd.
type CasdOptions struct {
	// Execute enables remote execution (buildbox-run-hosttools, 2 jobs).
	Execute bool
	// Instance, when set, is the only instance name casd serves; requests
	// for any other name (the empty one included) fail.
	Instance string
	// DigestFunction, when set, is casd's --digest-function (SHA1, ...):
	// it keys its CAS by that hash instead of SHA-256.
	DigestFunction string
	// Token, when set, makes the adapter refuse every call without
	// "authorization: Bearer TOKEN" (UNAUTHENTICATED), as an authenticating
	// gateway in front of a shared cache does. Direct bypasses it.
	Token string
}

// StartCasd boots buildbox-casd on a free loopback port with a cache in a
// temp dir, and the capabilities adapter in front of it.
func StartCasd(o CasdOptions) (*Casd, error) {
	bin, err := exec.LookPath("buildbox-casd")
	if err != nil {
		return nil, fmt.Errorf("buildbox-casd is not installed (Debian sid package buildbox; tools/setup.sh installs it): %w", err)
	}
	top, err := TempDir("casd")
	if err != nil {
		return nil, err
	}
	c := &Casd{top: top, inst: o.Instance, token: o.Token, blobReads: map[string]int{}}
	fail := func(err error) (*Casd, error) {
		c.Stop()
		return nil, err
	}
	if c.port, err = freePort(); err != nil {
		return fail(err)
	}
	args := []string{"--bind=127.0.0.1:" + strconv.Itoa(c.port), "--log-level=info"}
	if o.Execute {
		args = append(args, "--buildbox-run=/usr/bin/buildbox-run-hosttools", "--jobs=2")
	}
	if o.DigestFunction != "" {
		args = append(args, "--digest-function="+o.DigestFunction)
	}
	if o.Instance != "" {
		// Without a remote, casd serves the instance names listed here
		// instead of the empty one.
		args = append(args, "--local-server-instance="+o.Instance)
	}
	args = append(args, filepath.Join(top, "cache"))
	c.bin, c.args = bin, args
	if c.proc, err = startDaemon(exec.Command(bin, args...), top, "casd.log"); err != nil {
		return fail(err)
	}
	if err := c.proc.waitListening(c.backend(), "buildbox-casd"); err != nil {
		return fail(err)
	}
	if c.conn, err = grpc.NewClient(c.backend(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20))); err != nil {
		return fail(err)
	}
	if c.lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fail(err)
	}
	c.srv = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(c.forward),
		grpc.MaxRecvMsgSize(64<<20), grpc.MaxSendMsgSize(64<<20))
	go c.srv.Serve(c.lis)
	return c, nil
}

func (c *Casd) backend() string { return "127.0.0.1:" + strconv.Itoa(c.port) }

// Direct is casd's own address, without the adapter: a client that needs
// no capabilities (a ByteStream reader) bypasses the adapter's counters.
func (c *Casd) Direct() string { return c.backend() }

// Addr is where clients connect: grpc://ADDR for Bazel and img.
func (c *Casd) Addr() string { return c.lis.Addr().String() }

// Log returns casd's log so far (with --log-level=info it names every
// Execute request's action).
func (c *Casd) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.top, "casd.log"))
	return string(b)
}

// ByteStreamBytesRead is how many bytes of ByteStream.Read responses went
// through the adapter since the last Reset.
func (c *Casd) ByteStreamBytesRead() int64 { return c.reads.Load() }

// Calls is how many calls of a full method name (such as
// "/build.bazel.remote.execution.v2.Execution/Execute") went through.
func (c *Casd) Calls(method string) int64 {
	if n, ok := c.calls.Load(method); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// BlobReads is how many ByteStream.Read requests named a blob ("sha256:hex")
// since the last Reset. It tells img's reads of a layer apart from Bazel's
// downloads of other files, such as the img tool in a launcher's runfiles.
func (c *Casd) BlobReads(digest string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobReads[digest]
}

// Reset zeroes the counters.
func (c *Casd) Reset() {
	c.reads.Store(0)
	c.calls.Range(func(k, _ any) bool { c.calls.Delete(k); return true })
	c.mu.Lock()
	c.blobReads = map[string]int{}
	c.mu.Unlock()
}

// noteRead records the blob a ByteStream.Read request names:
// "[instance/]blobs/HASH/SIZE".
func (c *Casd) noteRead(b []byte) {
	var req bytestream.ReadRequest
	if proto.Unmarshal(b, &req) != nil {
		return
	}
	parts := strings.Split(req.ResourceName, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "blobs" {
			alg := "sha256:"
			if len(parts[i+1]) == 40 {
				alg = "sha1:" // casd started with --digest-function SHA1
			}
			c.mu.Lock()
			c.blobReads[alg+parts[i+1]]++
			c.mu.Unlock()
			return
		}
	}
}

// HasBlob reports whether the CAS holds the blob with this digest and size.
func (c *Casd) HasBlob(digest string, size int64) (bool, error) {
	conn, err := grpc.NewClient(c.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return false, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.token)
	}
	res, err := repb.NewContentAddressableStorageClient(conn).FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{
		InstanceName: c.inst,
		BlobDigests:  []*repb.Digest{{Hash: digest[strings.Index(digest, ":")+1:], SizeBytes: size}},
	})
	if err != nil {
		return false, err
	}
	return len(res.MissingBlobDigests) == 0, nil
}

// Restart stops casd (SIGTERM) and starts it again on the same port with
// the same cache directory; the adapter reconnects by itself.
func (c *Casd) Restart() error {
	c.proc.stop()
	c.starts++
	var err error
	if c.proc, err = startDaemon(exec.Command(c.bin, c.args...), c.top, fmt.Sprintf("casd-%d.log", c.starts)); err != nil {
		return err
	}
	return c.proc.waitListening(c.backend(), "buildbox-casd")
}

// Unauthenticated counts the calls refused for want of Token.
func (c *Casd) Unauthenticated() int64 { return c.unauthenticated.Load() }

// Stop ends the adapter and casd (by PID) and removes the cache.
func (c *Casd) Stop() {
	if c.srv != nil {
		c.srv.Stop()
	}
	if c.conn != nil {
		c.conn.Close()
	}
	if c.proc != nil {
		c.proc.stop()
	}
	os.RemoveAll(c.top)
}

const (
	capabilitiesMethod = "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities"
	byteStreamRead     = "/google.bytestream.ByteStream/Read"
)

// forward relays one call of any method to casd, message by message.
func (c *Casd) forward(_ any, ss grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(ss)
	if !ok {
		return fmt.Errorf("no method in stream")
	}
	n, _ := c.calls.LoadOrStore(method, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	md, _ := metadata.FromIncomingContext(ss.Context())
	if c.token != "" && !slices.Contains(md.Get("authorization"), "Bearer "+c.token) {
		c.unauthenticated.Add(1)
		return status.Errorf(codes.Unauthenticated, "%s without the cache's token", method)
	}
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(ss.Context(), md.Copy()))
	defer cancel()
	cs, err := c.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
	if err != nil {
		return err
	}
	go func() {
		for {
			f := new(rawFrame)
			if err := ss.RecvMsg(f); err != nil {
				if err == io.EOF {
					cs.CloseSend()
				} else {
					cancel()
				}
				return
			}
			if method == byteStreamRead {
				c.noteRead(f.b)
			}
			if err := cs.SendMsg(f); err != nil {
				return
			}
		}
	}()
	for first := true; ; first = false {
		f := new(rawFrame)
		err := cs.RecvMsg(f)
		if first {
			if h, herr := cs.Header(); herr == nil {
				ss.SendHeader(h)
			}
		}
		if err != nil {
			ss.SetTrailer(cs.Trailer())
			if err == io.EOF {
				return nil
			}
			return err
		}
		switch method {
		case capabilitiesMethod:
			if f.b, err = lowerAPIVersion(f.b); err != nil {
				return err
			}
		case byteStreamRead:
			c.reads.Add(int64(len(f.b)))
		}
		if err := ss.SendMsg(f); err != nil {
			return err
		}
	}
}

// lowerAPIVersion lets Bazel 7 (REAPI 2.0 only) talk to a 2.1+ server. The
// calls Bazel makes are the same in 2.0 and 2.1.
func lowerAPIVersion(b []byte) ([]byte, error) {
	var caps repb.ServerCapabilities
	if err := proto.Unmarshal(b, &caps); err != nil {
		return nil, err
	}
	caps.LowApiVersion = &semver.SemVer{Major: 2}
	return proto.Marshal(&caps)
}

// rawFrame is one message's bytes, passed through undecoded.
type rawFrame struct{ b []byte }

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.(*rawFrame).b, nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	v.(*rawFrame).b = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// Stored returns the sizes of the blobs casd's local CAS holds, from its
// cache directory.
func (c *Casd) Stored() ([]int64, error) {
	var sizes []int64
	err := filepath.WalkDir(filepath.Join(c.top, "cache", "cas", "objects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		sizes = append(sizes, info.Size())
		return nil
	})
	return sizes, err
}
