package cas

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/rules-img/rules_img/pkg/credhelper"
	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// maxRecvMsgSize is well above what servers send per ByteStream chunk
// (commonly 16 KiB to a few MiB), so no server trips the 4 MiB default.
const maxRecvMsgSize = 64 << 20

// grpcStore reads blobs with REAPI v2's ByteStream.Read.
type grpcStore struct {
	name     string
	instance string
	conn     *grpc.ClientConn
	bs       bytestream.ByteStreamClient
}

// newGRPC connects lazily; scheme is grpc, grpcs or unix (addr is then the
// socket path).
func newGRPC(scheme, addr, instance string, helper *credhelper.Helper, headers map[string]string) (Store, error) {
	target, authority := "dns:///"+addr, addr
	creds := insecure.NewCredentials()
	switch scheme {
	case "grpcs":
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	case "unix":
		target, authority = "unix://"+addr, "localhost"
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgSize)),
	}
	if helper != nil || len(headers) > 0 {
		add := authMetadata(helper, headers, authority)
		opts = append(opts,
			grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				ctx, err := add(ctx, method)
				if err != nil {
					return nil, err
				}
				return streamer(ctx, desc, cc, method, opts...)
			}),
			// Unary calls (FindMissingBlobs) need the same headers: a cache
			// that wants auth refuses them otherwise.
			grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				ctx, err := add(ctx, method)
				if err != nil {
					return err
				}
				return invoker(ctx, method, req, reply, cc, opts...)
			}))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("cache endpoint %s://%s: %w", scheme, addr, err)
	}
	name := scheme + "://" + addr
	if instance != "" {
		name += " (instance " + strconv.Quote(instance) + ")"
	}
	return &grpcStore{name: name, instance: instance, conn: conn, bs: bytestream.NewByteStreamClient(conn)}, nil
}

// authMetadata returns what adds the static headers and the credential
// helper's headers to a call's metadata. The URI given to the helper is
// https://AUTHORITY/SERVICE, as Bazel (grpc-java) gives it, so helpers
// written for Bazel match it.
func authMetadata(helper *credhelper.Helper, headers map[string]string, authority string) func(context.Context, string) (context.Context, error) {
	host := strings.TrimSuffix(authority, ":443")
	return func(ctx context.Context, method string) (context.Context, error) {
		for k, v := range headers {
			ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(k), v)
		}
		if helper == nil {
			return ctx, nil
		}
		service := strings.TrimPrefix(method, "/")
		if i := strings.LastIndex(service, "/"); i >= 0 {
			service = service[:i]
		}
		h, err := helper.Headers(ctx, "https://"+host+"/"+service)
		if err != nil {
			return nil, err
		}
		for k, vs := range h {
			for _, v := range vs {
				ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(k), v)
			}
		}
		return ctx, nil
	}
}

func (s *grpcStore) String() string { return s.name }

// Close ends the connection; a Store used for the whole process need not.
func (s *grpcStore) Close() error { return s.conn.Close() }

func (s *grpcStore) Open(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	hex, err := parseDigest(digest, size)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		// REAPI servers need not store the empty blob; it is known anyway.
		return io.NopCloser(strings.NewReader("")), nil
	}
	resource := "blobs/" + hex + "/" + strconv.FormatInt(size, 10)
	if s.instance != "" {
		resource = s.instance + "/" + resource
	}
	open := func(ctx context.Context) (io.ReadCloser, error) {
		ctx, cancel := context.WithCancel(ctx)
		stream, err := s.bs.Read(ctx, &bytestream.ReadRequest{ResourceName: resource})
		if err != nil {
			cancel()
			return nil, s.mapErr(err, digest)
		}
		// The first message carries NOT_FOUND, so Open can report it.
		first, err := stream.Recv()
		if err != nil && err != io.EOF {
			cancel()
			return nil, s.mapErr(err, digest)
		}
		r := &grpcReader{s: s, digest: digest, stream: stream, cancel: cancel, done: err == io.EOF}
		if first != nil {
			r.buf = first.GetData()
		}
		return r, nil
	}
	rc, err := openWithRetry(ctx, open, isTransient(ctx))
	if err != nil {
		return nil, err
	}
	return &sizedReader{rc: rc, size: size, digest: digest, from: s.name}, nil
}

func (s *grpcStore) mapErr(err error, digest string) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%w: %s in %s", ErrNotFound, digest, s.name)
	case codes.Unavailable, codes.ResourceExhausted:
		return transient{fmt.Errorf("cas: read %s from %s: %w", digest, s.name, err)}
	}
	return fmt.Errorf("cas: read %s from %s: %w", digest, s.name, err)
}

type grpcReader struct {
	s      *grpcStore
	digest string
	stream bytestream.ByteStream_ReadClient
	cancel context.CancelFunc
	buf    []byte
	done   bool
}

func (r *grpcReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		msg, err := r.stream.Recv()
		if err == io.EOF {
			r.done = true
			return 0, io.EOF
		}
		if err != nil {
			return 0, r.s.mapErr(err, r.digest)
		}
		r.buf = msg.GetData()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *grpcReader) Close() error {
	r.cancel()
	return nil
}
