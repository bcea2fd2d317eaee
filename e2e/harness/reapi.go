package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"github.com/bazelbuild/remote-apis/build/bazel/semver"
	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const (
	reapiMaxBatchBytes = 4 << 20 // advertised max_batch_total_size_bytes
	reapiChunk         = 1 << 20 // ByteStream.Read message size
	emptySHA256        = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// REAPI is a Bazel remote cache of our own, in this process: REAPI v2
// (Capabilities, ActionCache, ContentAddressableStorage) and ByteStream over
// gRPC on 127.0.0.1, storage in memory. Bazel uses it as
// --remote_cache=grpc://ADDR; `img push` streams blobs from it.
//
// Like bazel-remote it ignores instance names (one store for all), and
// GetActionResult answers NOT_FOUND when a blob the result names is gone, so
// after Delete Bazel rebuilds the action rather than trusting a broken hit.
type REAPI struct {
	lis net.Listener
	srv *grpc.Server

	mu      sync.Mutex
	blobs   map[string][]byte             // by sha256 hex
	ac      map[string]*repb.ActionResult // by action digest hex
	uploads map[string][]byte             // unfinished ByteStream writes by resource name
	stats   REAPIStats
}

// REAPIStats counts what clients did since StartREAPI or the last Reset.
type REAPIStats struct {
	ByteStreamBytesRead int64          // blob bytes sent by ByteStream.Read
	BatchBytesRead      int64          // blob bytes sent by BatchReadBlobs
	BlobReads           map[string]int // reads per digest ("sha256:hex"), ByteStream.Read and BatchReadBlobs
	BytesWritten        int64          // blob bytes received by ByteStream.Write and BatchUpdateBlobs
	ActionCacheGets     int            // GetActionResult calls
	ActionCacheHits     int            // of those, the ones that returned a result
	ActionCacheUpdates  int            // UpdateActionResult calls
}

// StartREAPI serves on a free loopback port until Stop.
func StartREAPI() (*REAPI, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &REAPI{
		lis:     lis,
		blobs:   map[string][]byte{},
		ac:      map[string]*repb.ActionResult{},
		uploads: map[string][]byte{},
		stats:   REAPIStats{BlobReads: map[string]int{}},
	}
	// Batch requests carry up to reapiMaxBatchBytes of data plus framing,
	// which the 4 MiB default would reject.
	r.srv = grpc.NewServer(grpc.MaxRecvMsgSize(4 * reapiMaxBatchBytes))
	repb.RegisterCapabilitiesServer(r.srv, reapiCapabilities{})
	repb.RegisterActionCacheServer(r.srv, reapiAC{r: r})
	repb.RegisterContentAddressableStorageServer(r.srv, reapiCAS{r: r})
	bytestream.RegisterByteStreamServer(r.srv, reapiByteStream{r: r})
	go r.srv.Serve(lis)
	return r, nil
}

// Addr is "127.0.0.1:PORT".
func (r *REAPI) Addr() string { return r.lis.Addr().String() }

// Stop closes the listener and all connections at once.
func (r *REAPI) Stop() {
	if r != nil && r.srv != nil {
		r.srv.Stop()
	}
}

// Has reports whether the CAS holds digest ("sha256:hex").
func (r *REAPI) Has(digest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.blobs[strings.TrimPrefix(digest, "sha256:")]
	return ok
}

// Delete evicts digest ("sha256:hex") from the CAS.
func (r *REAPI) Delete(digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.blobs, strings.TrimPrefix(digest, "sha256:"))
}

// Put stores data in the CAS, as a client upload would, and returns its
// digest ("sha256:hex"). It does not count in Stats.
func (r *REAPI) Put(data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs[h] = append([]byte(nil), data...)
	return "sha256:" + h
}

// Stats returns a snapshot of the counters.
func (r *REAPI) Stats() REAPIStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.BlobReads = make(map[string]int, len(r.stats.BlobReads))
	for k, v := range r.stats.BlobReads {
		s.BlobReads[k] = v
	}
	return s
}

// Reset zeroes the counters.
func (r *REAPI) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats = REAPIStats{BlobReads: map[string]int{}}
}

// blob returns the stored bytes of hash; the empty blob always exists.
// Callers hold r.mu.
func (r *REAPI) blob(hash string) ([]byte, bool) {
	if hash == emptySHA256 {
		return nil, true
	}
	b, ok := r.blobs[hash]
	return b, ok
}

func checkDigestFunction(f repb.DigestFunction_Value) error {
	if f != repb.DigestFunction_UNKNOWN && f != repb.DigestFunction_SHA256 {
		return status.Errorf(codes.InvalidArgument, "digest function %s is not supported, only SHA256", f)
	}
	return nil
}

func isSHA256Hex(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

func checkDigest(d *repb.Digest) error {
	if d == nil || !isSHA256Hex(d.GetHash()) || d.GetSizeBytes() < 0 {
		return status.Errorf(codes.InvalidArgument, "invalid digest %v", d)
	}
	return nil
}

// verify checks that data is the blob d names.
func verify(d *repb.Digest, data []byte) error {
	if int64(len(data)) != d.GetSizeBytes() {
		return status.Errorf(codes.InvalidArgument, "blob %s: got %d bytes, want %d", d.GetHash(), len(data), d.GetSizeBytes())
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d.GetHash() {
		return status.Errorf(codes.InvalidArgument, "blob %s: data has sha256 %x", d.GetHash(), sum)
	}
	return nil
}

type reapiCapabilities struct {
	repb.UnimplementedCapabilitiesServer
}

func (reapiCapabilities) GetCapabilities(context.Context, *repb.GetCapabilitiesRequest) (*repb.ServerCapabilities, error) {
	return &repb.ServerCapabilities{
		CacheCapabilities: &repb.CacheCapabilities{
			DigestFunctions:               []repb.DigestFunction_Value{repb.DigestFunction_SHA256},
			ActionCacheUpdateCapabilities: &repb.ActionCacheUpdateCapabilities{UpdateEnabled: true},
			MaxBatchTotalSizeBytes:        reapiMaxBatchBytes,
			SymlinkAbsolutePathStrategy:   repb.SymlinkAbsolutePathStrategy_ALLOWED,
		},
		// Bazel requires its own API version within [low, high].
		LowApiVersion:  &semver.SemVer{Major: 2},
		HighApiVersion: &semver.SemVer{Major: 2, Minor: 3},
	}, nil
}

type reapiAC struct {
	repb.UnimplementedActionCacheServer
	r *REAPI
}

func (s reapiAC) GetActionResult(_ context.Context, req *repb.GetActionResultRequest) (*repb.ActionResult, error) {
	if err := checkDigestFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	if err := checkDigest(req.GetActionDigest()); err != nil {
		return nil, err
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.ActionCacheGets++
	ar, ok := r.ac[req.ActionDigest.Hash]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no action result for %s", req.ActionDigest.Hash)
	}
	if missing := r.missingOutput(ar); missing != "" {
		return nil, status.Errorf(codes.NotFound, "action result for %s names evicted blob %s", req.ActionDigest.Hash, missing)
	}
	r.stats.ActionCacheHits++
	return proto.Clone(ar).(*repb.ActionResult), nil
}

// missingOutput returns the hash of a blob ar refers to that the CAS lacks,
// or "". Callers hold r.mu.
func (r *REAPI) missingOutput(ar *repb.ActionResult) string {
	var missing string
	need := func(d *repb.Digest) bool {
		if d == nil {
			return true
		}
		if _, ok := r.blob(d.Hash); !ok {
			missing = d.Hash
			return false
		}
		return true
	}
	files := func(dir *repb.Directory) bool {
		for _, f := range dir.GetFiles() {
			if !need(f.GetDigest()) {
				return false
			}
		}
		return true
	}
	// walk checks a Directory stored on its own, and those below it.
	var walk func(d *repb.Digest) bool
	walk = func(d *repb.Digest) bool {
		if d == nil {
			return true
		}
		if !need(d) {
			return false
		}
		data, _ := r.blob(d.Hash)
		var dir repb.Directory
		if err := proto.Unmarshal(data, &dir); err != nil {
			missing = d.Hash
			return false
		}
		if !files(&dir) {
			return false
		}
		for _, sub := range dir.GetDirectories() {
			if !walk(sub.GetDigest()) {
				return false
			}
		}
		return true
	}
	if !need(ar.GetStdoutDigest()) || !need(ar.GetStderrDigest()) {
		return missing
	}
	for _, f := range ar.GetOutputFiles() {
		if !need(f.GetDigest()) {
			return missing
		}
	}
	for _, od := range ar.GetOutputDirectories() {
		if td := od.GetTreeDigest(); td != nil {
			if !need(td) {
				return missing
			}
			data, _ := r.blob(td.Hash)
			var tree repb.Tree
			if err := proto.Unmarshal(data, &tree); err != nil {
				return td.Hash
			}
			if !files(tree.GetRoot()) {
				return missing
			}
			for _, c := range tree.GetChildren() {
				if !files(c) {
					return missing
				}
			}
		}
		if !walk(od.GetRootDirectoryDigest()) {
			return missing
		}
	}
	return ""
}

func (s reapiAC) UpdateActionResult(_ context.Context, req *repb.UpdateActionResultRequest) (*repb.ActionResult, error) {
	if err := checkDigestFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	if err := checkDigest(req.GetActionDigest()); err != nil {
		return nil, err
	}
	if req.ActionResult == nil {
		return nil, status.Error(codes.InvalidArgument, "no action_result")
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.ActionCacheUpdates++
	r.ac[req.ActionDigest.Hash] = proto.Clone(req.ActionResult).(*repb.ActionResult)
	return req.ActionResult, nil
}

type reapiCAS struct {
	repb.UnimplementedContentAddressableStorageServer
	r *REAPI
}

func (s reapiCAS) FindMissingBlobs(_ context.Context, req *repb.FindMissingBlobsRequest) (*repb.FindMissingBlobsResponse, error) {
	if err := checkDigestFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	resp := &repb.FindMissingBlobsResponse{}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range req.GetBlobDigests() {
		if err := checkDigest(d); err != nil {
			return nil, err
		}
		if _, ok := r.blob(d.Hash); !ok {
			resp.MissingBlobDigests = append(resp.MissingBlobDigests, d)
		}
	}
	return resp, nil
}

func (s reapiCAS) BatchUpdateBlobs(_ context.Context, req *repb.BatchUpdateBlobsRequest) (*repb.BatchUpdateBlobsResponse, error) {
	if err := checkDigestFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	var total int64
	for _, u := range req.GetRequests() {
		total += int64(len(u.GetData()))
	}
	if total > reapiMaxBatchBytes {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d bytes exceeds max_batch_total_size_bytes %d", total, reapiMaxBatchBytes)
	}
	resp := &repb.BatchUpdateBlobsResponse{}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range req.GetRequests() {
		st := status.New(codes.OK, "")
		r.stats.BytesWritten += int64(len(u.GetData()))
		switch err := checkDigest(u.GetDigest()); {
		case err != nil:
			st = status.Convert(err)
		case u.GetCompressor() != repb.Compressor_IDENTITY:
			st = status.Newf(codes.InvalidArgument, "compressor %s is not supported", u.GetCompressor())
		default:
			if err := verify(u.Digest, u.Data); err != nil {
				st = status.Convert(err)
			} else {
				r.blobs[u.Digest.Hash] = u.Data
			}
		}
		resp.Responses = append(resp.Responses, &repb.BatchUpdateBlobsResponse_Response{Digest: u.GetDigest(), Status: st.Proto()})
	}
	return resp, nil
}

func (s reapiCAS) BatchReadBlobs(_ context.Context, req *repb.BatchReadBlobsRequest) (*repb.BatchReadBlobsResponse, error) {
	if err := checkDigestFunction(req.GetDigestFunction()); err != nil {
		return nil, err
	}
	var total int64
	for _, d := range req.GetDigests() {
		if err := checkDigest(d); err != nil {
			return nil, err
		}
		total += d.SizeBytes
	}
	if total > reapiMaxBatchBytes {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d bytes exceeds max_batch_total_size_bytes %d", total, reapiMaxBatchBytes)
	}
	resp := &repb.BatchReadBlobsResponse{}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range req.GetDigests() {
		item := &repb.BatchReadBlobsResponse_Response{Digest: d, Status: status.New(codes.OK, "").Proto()}
		if data, ok := r.blob(d.Hash); ok {
			item.Data = data
			r.stats.BlobReads["sha256:"+d.Hash]++
			r.stats.BatchBytesRead += int64(len(data))
		} else {
			item.Status = status.Newf(codes.NotFound, "blob %s not found", d.Hash).Proto()
		}
		resp.Responses = append(resp.Responses, item)
	}
	return resp, nil
}

type reapiByteStream struct {
	bytestream.UnimplementedByteStreamServer
	r *REAPI
}

// parseBlobPath parses what follows "blobs/": HASH/SIZE, optionally after a
// digest function name, and (for writes only) optional trailing metadata.
func parseBlobPath(parts []string, trailing bool) (string, int64, error) {
	if len(parts) > 2 && !isSHA256Hex(parts[0]) {
		if parts[0] != "sha256" {
			return "", 0, status.Errorf(codes.InvalidArgument, "digest function %q is not supported", parts[0])
		}
		parts = parts[1:]
	}
	if len(parts) < 2 || (!trailing && len(parts) != 2) || !isSHA256Hex(parts[0]) {
		return "", 0, status.Error(codes.InvalidArgument, "want blobs/HASH/SIZE")
	}
	size, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || size < 0 {
		return "", 0, status.Errorf(codes.InvalidArgument, "bad size %q", parts[1])
	}
	return parts[0], size, nil
}

// parseReadResource parses "[instance/]blobs/HASH/SIZE". Instance names may
// not contain a "blobs" segment, so the first one starts the digest.
func parseReadResource(name string) (string, int64, error) {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		switch p {
		case "blobs":
			h, size, err := parseBlobPath(parts[i+1:], false)
			if err != nil {
				return "", 0, status.Errorf(codes.InvalidArgument, "resource %q: %s", name, status.Convert(err).Message())
			}
			return h, size, nil
		case "compressed-blobs":
			return "", 0, status.Errorf(codes.InvalidArgument, "resource %q: compressed blobs are not supported (no compressors advertised)", name)
		}
	}
	return "", 0, status.Errorf(codes.InvalidArgument, "resource %q: want [INSTANCE/]blobs/HASH/SIZE", name)
}

// parseWriteResource parses "[instance/]uploads/UUID/blobs/HASH/SIZE[/...]".
func parseWriteResource(name string) (string, int64, error) {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if p != "uploads" {
			continue
		}
		if len(parts) < i+3 || parts[i+1] == "" {
			break
		}
		switch parts[i+2] {
		case "blobs":
			h, size, err := parseBlobPath(parts[i+3:], true)
			if err != nil {
				return "", 0, status.Errorf(codes.InvalidArgument, "resource %q: %s", name, status.Convert(err).Message())
			}
			return h, size, nil
		case "compressed-blobs":
			return "", 0, status.Errorf(codes.InvalidArgument, "resource %q: compressed blobs are not supported (no compressors advertised)", name)
		}
		break
	}
	return "", 0, status.Errorf(codes.InvalidArgument, "resource %q: want [INSTANCE/]uploads/UUID/blobs/HASH/SIZE", name)
}

func (s reapiByteStream) Read(req *bytestream.ReadRequest, stream bytestream.ByteStream_ReadServer) error {
	h, size, err := parseReadResource(req.GetResourceName())
	if err != nil {
		return err
	}
	r := s.r
	r.mu.Lock()
	data, ok := r.blob(h)
	if ok {
		r.stats.BlobReads["sha256:"+h]++
	}
	r.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "blob %s not found", h)
	}
	if int64(len(data)) != size {
		return status.Errorf(codes.InvalidArgument, "blob %s has %d bytes, not %d", h, len(data), size)
	}
	off, limit := req.GetReadOffset(), req.GetReadLimit()
	if off < 0 || off > size {
		return status.Errorf(codes.OutOfRange, "read_offset %d outside [0, %d]", off, size)
	}
	if limit < 0 {
		return status.Errorf(codes.InvalidArgument, "negative read_limit %d", limit)
	}
	end := size
	if limit > 0 && limit < size-off {
		end = off + limit
	}
	for off < end {
		n := min(end-off, reapiChunk)
		if err := stream.Send(&bytestream.ReadResponse{Data: data[off : off+n]}); err != nil {
			return err
		}
		r.mu.Lock()
		r.stats.ByteStreamBytesRead += n
		r.mu.Unlock()
		off += n
	}
	return nil
}

func (s reapiByteStream) Write(stream bytestream.ByteStream_WriteServer) error {
	req, err := stream.Recv()
	if err == io.EOF {
		return status.Error(codes.InvalidArgument, "write without a request")
	}
	if err != nil {
		return err
	}
	name := req.GetResourceName()
	h, size, err := parseWriteResource(name)
	if err != nil {
		return err
	}
	r := s.r
	r.mu.Lock()
	_, exists := r.blob(h)
	buf := r.uploads[name]
	r.stats.BytesWritten += int64(len(req.GetData()))
	r.mu.Unlock()
	if exists {
		// The spec lets the server end an upload of a blob it has at once,
		// reporting the full size as committed.
		return stream.SendAndClose(&bytestream.WriteResponse{CommittedSize: size})
	}
	if req.GetWriteOffset() == 0 {
		buf = nil // a client restarting from scratch
	}
	for {
		if req.GetWriteOffset() != int64(len(buf)) {
			return status.Errorf(codes.InvalidArgument, "write_offset %d, want %d", req.GetWriteOffset(), len(buf))
		}
		buf = append(buf, req.GetData()...)
		if int64(len(buf)) > size {
			return status.Errorf(codes.InvalidArgument, "%d bytes written to a blob of %d", len(buf), size)
		}
		if req.GetFinishWrite() {
			break
		}
		req, err = stream.Recv()
		if err != nil {
			// Keep what arrived for QueryWriteStatus and a resumed write.
			r.mu.Lock()
			r.uploads[name] = buf
			r.mu.Unlock()
			if err == io.EOF {
				return status.Error(codes.InvalidArgument, "stream ended without finish_write")
			}
			return err
		}
		if req.GetResourceName() != "" && req.GetResourceName() != name {
			return status.Errorf(codes.InvalidArgument, "resource name changed to %q within a write", req.GetResourceName())
		}
		r.mu.Lock()
		r.stats.BytesWritten += int64(len(req.GetData()))
		r.mu.Unlock()
	}
	if err := verify(&repb.Digest{Hash: h, SizeBytes: size}, buf); err != nil {
		r.mu.Lock()
		delete(r.uploads, name)
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	r.blobs[h] = buf
	delete(r.uploads, name)
	r.mu.Unlock()
	return stream.SendAndClose(&bytestream.WriteResponse{CommittedSize: size})
}

func (s reapiByteStream) QueryWriteStatus(_ context.Context, req *bytestream.QueryWriteStatusRequest) (*bytestream.QueryWriteStatusResponse, error) {
	h, size, err := parseWriteResource(req.GetResourceName())
	if err != nil {
		return nil, err
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.blob(h); ok {
		return &bytestream.QueryWriteStatusResponse{CommittedSize: size, Complete: true}, nil
	}
	// Unknown uploads have committed nothing; clients then start over.
	return &bytestream.QueryWriteStatusResponse{CommittedSize: int64(len(r.uploads[req.GetResourceName()]))}, nil
}
