package casreg

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/oci"
)

// BlobCache is the registry's gRPC blob cache endpoint: REAPI's
// ContentAddressableStorage.FindMissingBlobs, answered by the CAS. A push
// with strategy cas_registry calls it with every blob of its images, so the
// registry learns their sizes (which the distribution API never sends) and
// the pusher learns which blobs it must still upload.
//
// A size announced here is believed (buildbox-casd answers FindMissingBlobs
// by hash alone), so only pushers may call it: with token set, a call must
// carry "authorization: Bearer TOKEN".
func (g *Registry) BlobCache(token string) *grpc.Server {
	srv := grpc.NewServer(grpc.ForceServerCodec(cas.RawCodec{}))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "build.bazel.remote.execution.v2.ContentAddressableStorage",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "FindMissingBlobs",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				if err := checkToken(ctx, token); err != nil {
					return nil, err
				}
				var req []byte
				if err := dec(&req); err != nil {
					return nil, err
				}
				resp, err := g.findMissing(ctx, req)
				if err != nil {
					return nil, err
				}
				return &resp, nil
			},
		}},
	}, g)
	return srv
}

func checkToken(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if subtle.ConstantTimeCompare([]byte(v), []byte("Bearer "+token)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "the blob cache endpoint wants the token of the registry's --blobcache-token-file: give pushers its path in IMG_BLOB_CACHE_TOKEN_FILE")
}

func (g *Registry) findMissing(ctx context.Context, req []byte) ([]byte, error) {
	// The caller's instance name is its own cache's; the registry reads its
	// CAS with the one it was started with.
	_, blobs, err := cas.DecodeFindMissing(req)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	fn := g.opts.CASDigestFunction
	for _, b := range blobs {
		if !strings.HasPrefix(b.Digest, fn+":") || b.Size < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "blob %q with size %d: this registry's CAS is keyed by %s (its --digest-function)", b.Digest, b.Size, fn)
		}
		// Refused before the CAS is asked: nothing of the request is
		// recorded when one blob of it contradicts what is known.
		if d, ok := g.casToOCI(b.Digest); ok {
			if known, ok := g.st.size(d); ok && known != b.Size {
				return nil, status.Errorf(codes.InvalidArgument, "blob %s has %d bytes, not %d", b.Digest, known, b.Size)
			}
		}
	}
	missing, err := g.blobs.Missing(ctx, blobs)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	gone := map[string]bool{}
	for _, b := range missing {
		gone[b.Digest] = true
	}
	for _, b := range blobs {
		if gone[b.Digest] {
			continue
		}
		d, ok := g.casToOCI(b.Digest)
		if !ok {
			if err := g.learnDigest(ctx, b); err != nil {
				return nil, err
			}
			continue
		}
		if err := g.st.setSize(d, b.Size, false, b.Digest); err != nil {
			var c *sizeConflict
			if errors.As(err, &c) {
				return nil, status.Error(codes.InvalidArgument, err.Error())
			}
			g.log.Printf("FindMissingBlobs: %v", err)
			return nil, status.Error(codes.Internal, "recording a blob size failed; the registry's log has the detail")
		}
	}
	return cas.EncodeMissing(missing)
}

// casToOCI is the OCI digest a CAS key holds: itself for a sha256 CAS,
// else what the registry learned.
func (g *Registry) casToOCI(casDigest string) (string, bool) {
	if g.opts.CASDigestFunction == oci.CASSHA256 {
		return casDigest, true
	}
	return g.st.ociDigest(casDigest)
}

// learnDigest reads a blob the CAS keys by another function than sha256
// and records its sha256: an image names it by that, and the CAS key alone
// does not tell it. Once per blob; the bytes are checked against the key.
func (g *Registry) learnDigest(ctx context.Context, b cas.Blob) error {
	rc, err := g.blobs.Open(ctx, b.Digest, b.Size)
	if err != nil {
		return status.Errorf(codes.Unavailable, "reading %s from the CAS: %v", b.Digest, err)
	}
	defer rc.Close()
	key, _ := oci.NewHash(b.Digest)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(key, h), rc)
	alg, _, _ := strings.Cut(b.Digest, ":")
	if err != nil || n != b.Size || oci.DigestOf(alg, key) != b.Digest {
		return status.Errorf(codes.InvalidArgument, "blob %s: the CAS holds other than %d bytes under it (%d read, %v)", b.Digest, b.Size, n, err)
	}
	d := oci.DigestOf("sha256", h)
	err = g.st.setSize(d, b.Size, true, b.Digest)
	if err == nil {
		err = g.st.setCASKey(b.Digest, d)
	}
	if err != nil {
		g.log.Printf("FindMissingBlobs: recording %s: %v", b.Digest, err)
		return status.Error(codes.Internal, "recording a blob failed; the registry's log has the detail")
	}
	return nil
}

// Local keeps uploaded blobs in DIR and reads the rest from the CAS: the
// blob store "upstream", for a CAS this registry may only read.
type Local struct {
	Dir string
	CAS cas.REAPI
}

func (l Local) path(digest string) string { return filepath.Join(l.Dir, keyOf(digest)) }

func (l Local) String() string { return l.CAS.String() + " (uploads in " + l.Dir + ")" }

func (l Local) Open(ctx context.Context, digest string, size int64) (io.ReadCloser, error) {
	if f, err := os.Open(l.path(digest)); err == nil {
		return f, nil
	}
	return l.CAS.Open(ctx, digest, size)
}

func (l Local) Missing(ctx context.Context, bs []cas.Blob) ([]cas.Blob, error) {
	var ask []cas.Blob
	for _, b := range bs {
		if fi, err := os.Stat(l.path(b.Digest)); err != nil || fi.Size() != b.Size {
			ask = append(ask, b)
		}
	}
	if len(ask) == 0 {
		return nil, nil
	}
	return l.CAS.Missing(ctx, ask)
}

func (l Local) Write(_ context.Context, digest string, _ int64, r io.Reader) error {
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	return writeFrom(l.path(digest), func(w io.Writer) error {
		_, err := io.Copy(w, r)
		return err
	})
}
