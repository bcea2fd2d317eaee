package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func digestOf(b []byte) *repb.Digest {
	s := sha256.Sum256(b)
	return &repb.Digest{Hash: hex.EncodeToString(s[:]), SizeBytes: int64(len(b))}
}

func TestREAPI(t *testing.T) {
	r, err := StartREAPI()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	conn, err := grpc.NewClient(r.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	bs := bytestream.NewByteStreamClient(conn)
	cas := repb.NewContentAddressableStorageClient(conn)
	ac := repb.NewActionCacheClient(conn)

	caps, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{})
	if err != nil || caps.CacheCapabilities.DigestFunctions[0] != repb.DigestFunction_SHA256 || !caps.CacheCapabilities.ActionCacheUpdateCapabilities.UpdateEnabled {
		t.Fatalf("GetCapabilities: %v %v", caps, err)
	}

	// A blob over several Read chunks, written in two messages.
	blob := bytes.Repeat([]byte("0123456789abcdef"), (reapiChunk+1000)/16)
	d := digestOf(blob)
	write := func(data []byte, d *repb.Digest) (*bytestream.WriteResponse, error) {
		w, err := bs.Write(ctx)
		if err != nil {
			return nil, err
		}
		name := "main/uploads/5f6a1c2e-0000-4000-8000-000000000001/blobs/" + d.Hash + "/" + strconv.FormatInt(d.SizeBytes, 10)
		half := len(data) / 2
		if err := w.Send(&bytestream.WriteRequest{ResourceName: name, Data: data[:half]}); err != nil {
			return nil, err
		}
		// A server may end the write early when it has the blob.
		if err := w.Send(&bytestream.WriteRequest{WriteOffset: int64(half), Data: data[half:], FinishWrite: true}); err != nil && err != io.EOF {
			return nil, err
		}
		return w.CloseAndRecv()
	}
	if resp, err := write(blob, d); err != nil || resp.CommittedSize != d.SizeBytes {
		t.Fatalf("Write: %v %v", resp, err)
	}
	if resp, err := write(blob, d); err != nil || resp.CommittedSize != d.SizeBytes {
		t.Fatalf("Write of a present blob: %v %v", resp, err)
	}
	bad := digestOf([]byte("other"))
	if _, err := write([]byte("wrong"), bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Write with a wrong digest: %v, want INVALID_ARGUMENT", err)
	}
	if !r.Has("sha256:"+d.Hash) || r.Has("sha256:"+bad.Hash) {
		t.Fatal("Has after writes")
	}

	missing := digestOf([]byte("missing"))
	fm, err := cas.FindMissingBlobs(ctx, &repb.FindMissingBlobsRequest{BlobDigests: []*repb.Digest{d, missing, digestOf(nil)}})
	if err != nil || len(fm.MissingBlobDigests) != 1 || fm.MissingBlobDigests[0].Hash != missing.Hash {
		t.Fatalf("FindMissingBlobs: %v %v", fm, err)
	}

	read := func(name string, off, limit int64) ([]byte, error) {
		rs, err := bs.Read(ctx, &bytestream.ReadRequest{ResourceName: name, ReadOffset: off, ReadLimit: limit})
		if err != nil {
			return nil, err
		}
		var got []byte
		for {
			m, err := rs.Recv()
			if err == io.EOF {
				return got, nil
			}
			if err != nil {
				return got, err
			}
			got = append(got, m.Data...)
		}
	}
	name := "main/blobs/" + d.Hash + "/" + strconv.FormatInt(d.SizeBytes, 10)
	r.Reset()
	if got, err := read(name, 0, 0); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("Read: %d bytes, %v", len(got), err)
	}
	if got, err := read(name, 10, 5); err != nil || string(got) != "abcde" {
		t.Fatalf("Read at offset 10 limit 5: %q %v", got, err)
	}
	if _, err := read("blobs/"+missing.Hash+"/7", 0, 0); status.Code(err) != codes.NotFound {
		t.Fatalf("Read of a missing blob: %v", err)
	}
	st := r.Stats()
	if st.ByteStreamBytesRead != d.SizeBytes+5 || st.BlobReads["sha256:"+d.Hash] != 2 {
		t.Fatalf("Stats %+v", st)
	}

	// An action result round trip, and a miss once its output is evicted.
	out := []byte("output file")
	if _, err := cas.BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{Requests: []*repb.BatchUpdateBlobsRequest_Request{{Digest: digestOf(out), Data: out}}}); err != nil {
		t.Fatal(err)
	}
	action := digestOf([]byte("action"))
	ar := &repb.ActionResult{ExitCode: 0, OutputFiles: []*repb.OutputFile{{Path: "out/layer.tgz", Digest: digestOf(out)}, {Path: "out/big", Digest: d}}}
	if _, err := ac.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: action}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetActionResult before update: %v", err)
	}
	if _, err := ac.UpdateActionResult(ctx, &repb.UpdateActionResultRequest{ActionDigest: action, ActionResult: ar}); err != nil {
		t.Fatal(err)
	}
	got, err := ac.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: action})
	if err != nil || !proto.Equal(got, ar) {
		t.Fatalf("GetActionResult: %v %v", got, err)
	}
	br, err := cas.BatchReadBlobs(ctx, &repb.BatchReadBlobsRequest{Digests: []*repb.Digest{digestOf(out), missing}})
	if err != nil || string(br.Responses[0].Data) != string(out) || br.Responses[1].Status.Code != int32(codes.NotFound) {
		t.Fatalf("BatchReadBlobs: %v %v", br, err)
	}
	r.Delete("sha256:" + d.Hash)
	if _, err := ac.GetActionResult(ctx, &repb.GetActionResultRequest{ActionDigest: action}); status.Code(err) != codes.NotFound {
		t.Fatalf("GetActionResult after eviction: %v", err)
	}
	if _, err := read(name, 0, 0); status.Code(err) != codes.NotFound {
		t.Fatalf("Read after Delete: %v", err)
	}
	st = r.Stats()
	if st.ActionCacheGets != 3 || st.ActionCacheHits != 1 || st.ActionCacheUpdates != 1 || st.BatchBytesRead != int64(len(out)) {
		t.Fatalf("Stats %+v", st)
	}
}

func TestREAPIResumedWrite(t *testing.T) {
	r, err := StartREAPI()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	conn, err := grpc.NewClient(r.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	bs := bytestream.NewByteStreamClient(conn)
	data := []byte("resumable upload")
	d := digestOf(data)
	name := "uploads/u1/blobs/" + d.Hash + "/" + strconv.Itoa(len(data))

	w, _ := bs.Write(ctx)
	w.Send(&bytestream.WriteRequest{ResourceName: name, Data: data[:6]})
	if _, err := w.CloseAndRecv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("write without finish_write: %v", err)
	}
	qs, err := bs.QueryWriteStatus(ctx, &bytestream.QueryWriteStatusRequest{ResourceName: name})
	if err != nil || qs.CommittedSize != 6 || qs.Complete {
		t.Fatalf("QueryWriteStatus: %v %v", qs, err)
	}
	w, _ = bs.Write(ctx)
	w.Send(&bytestream.WriteRequest{ResourceName: name, WriteOffset: 6, Data: data[6:], FinishWrite: true})
	if resp, err := w.CloseAndRecv(); err != nil || resp.CommittedSize != int64(len(data)) {
		t.Fatalf("resumed write: %v %v", resp, err)
	}
	qs, err = bs.QueryWriteStatus(ctx, &bytestream.QueryWriteStatusRequest{ResourceName: name})
	if err != nil || !qs.Complete {
		t.Fatalf("QueryWriteStatus after: %v %v", qs, err)
	}
	if !r.Has("sha256:" + d.Hash) {
		t.Fatal("blob not stored")
	}
}
