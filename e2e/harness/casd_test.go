package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestCasdAdapter checks the adapter against a real casd: capabilities come
// back lowered to 2.0 with execution enabled, blobs round-trip through
// ByteStream under the instance name, the read is counted, and the empty
// instance name is refused (so a client that drops the name fails).
func TestCasdAdapter(t *testing.T) {
	c, err := StartCasd(CasdOptions{Execute: true, Instance: "e2e-main"})
	if err != nil {
		t.Fatal(err) // tools/setup.sh installs buildbox
	}
	defer c.Stop()
	conn, err := grpc.NewClient(c.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()

	caps, err := repb.NewCapabilitiesClient(conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{InstanceName: "e2e-main"})
	if err != nil {
		t.Fatal(err)
	}
	if lo := caps.LowApiVersion; lo.Major != 2 || lo.Minor != 0 {
		t.Errorf("low_api_version = %v, want 2.0", lo)
	}
	if caps.HighApiVersion.Minor < 1 {
		t.Errorf("high_api_version = %v: casd should advertise 2.1 or later", caps.HighApiVersion)
	}
	if caps.ExecutionCapabilities == nil || !caps.ExecutionCapabilities.ExecEnabled {
		t.Errorf("execution is not enabled: %v", caps.ExecutionCapabilities)
	}

	data := []byte(strings.Repeat("rules_img casd ", 1000))
	sum := sha256.Sum256(data)
	d := &repb.Digest{Hash: hex.EncodeToString(sum[:]), SizeBytes: int64(len(data))}
	if _, err := repb.NewContentAddressableStorageClient(conn).BatchUpdateBlobs(ctx, &repb.BatchUpdateBlobsRequest{
		InstanceName: "e2e-main", Requests: []*repb.BatchUpdateBlobsRequest_Request{{Digest: d, Data: data}},
	}); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.HasBlob("sha256:"+d.Hash, d.SizeBytes); err != nil || !ok {
		t.Fatalf("HasBlob after upload: %v, %v", ok, err)
	}
	c.Reset()
	read := func(instance string) ([]byte, error) {
		name := "blobs/" + d.Hash + "/" + "15000"
		if instance != "" {
			name = instance + "/" + name
		}
		stream, err := bytestream.NewByteStreamClient(conn).Read(ctx, &bytestream.ReadRequest{ResourceName: name})
		if err != nil {
			return nil, err
		}
		var got []byte
		for {
			r, err := stream.Recv()
			if err == io.EOF {
				return got, nil
			}
			if err != nil {
				return got, err
			}
			got = append(got, r.Data...)
		}
	}
	got, err := read("e2e-main")
	if err != nil || string(got) != string(data) {
		t.Fatalf("ByteStream read: %d bytes, %v", len(got), err)
	}
	if n := c.ByteStreamBytesRead(); n < int64(len(data)) {
		t.Errorf("counted %d ByteStream bytes, want >= %d", n, len(data))
	}
	if n := c.BlobReads("sha256:" + d.Hash); n != 1 {
		t.Errorf("counted %d reads of the blob, want 1", n)
	}
	if _, err := read(""); err == nil {
		t.Error("casd served the empty instance name; the instance-name tests could not fail")
	}
}
