package cas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
)

// Blob names one CAS entry: "sha256:<hex>" and its size.
type Blob struct {
	Digest string
	Size   int64
}

// REAPI is a Store that can also say which blobs it lacks and take new ones:
// what a registry serving blobs out of the CAS needs.
type REAPI interface {
	Store
	// Missing returns the blobs of bs the CAS does not have.
	Missing(ctx context.Context, bs []Blob) ([]Blob, error)
	// Write stores size bytes from r under digest.
	Write(ctx context.Context, digest string, size int64, r io.Reader) error
}

// OpenREAPI is Open for endpoints that speak REAPI (grpc, grpcs, unix).
func OpenREAPI(endpoint string, opts Options) (REAPI, error) {
	s, err := Open(endpoint, opts)
	if err != nil {
		return nil, err
	}
	r, ok := s.(REAPI)
	if !ok {
		return nil, fmt.Errorf("cache endpoint %q: want a REAPI server (grpc://, grpcs:// or unix://), not an HTTP or disk cache", Redact(endpoint))
	}
	return r, nil
}

// FindMissingMethod is REAPI's ContentAddressableStorage.FindMissingBlobs.
const FindMissingMethod = "/build.bazel.remote.execution.v2.ContentAddressableStorage/FindMissingBlobs"

// RawCodec passes messages as they are (*[]byte), so the two REAPI messages
// this package needs are encoded by hand (protowire) instead of pulling in
// the REAPI proto tree.
type RawCodec struct{}

func (RawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: %T is not *[]byte", v)
	}
	return *b, nil
}

func (RawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: %T is not *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

// Name is "proto": on the wire these are protobuf messages.
func (RawCodec) Name() string { return "proto" }

// EncodeFindMissing encodes a FindMissingBlobsRequest (instance_name = 1,
// blob_digests = 2).
func EncodeFindMissing(instance string, bs []Blob) ([]byte, error) {
	var out []byte
	if instance != "" {
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendString(out, instance)
	}
	return appendDigests(out, bs)
}

// appendDigests appends bs as field 2, the digest list of both messages.
func appendDigests(out []byte, bs []Blob) ([]byte, error) {
	for _, b := range bs {
		d, err := encodeDigest(b)
		if err != nil {
			return nil, err
		}
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, d)
	}
	return out, nil
}

// DecodeFindMissing decodes a FindMissingBlobsRequest into its instance
// name and blobs.
func DecodeFindMissing(b []byte) (string, []Blob, error) {
	var instance string
	var bs []Blob
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			instance = string(v)
		case num == 2 && typ == protowire.BytesType:
			d, err := decodeDigest(v)
			if err != nil {
				return err
			}
			bs = append(bs, d)
		}
		return nil
	})
	return instance, bs, err
}

// EncodeMissing encodes a FindMissingBlobsResponse (missing_blob_digests = 2).
func EncodeMissing(bs []Blob) ([]byte, error) {
	return appendDigests(nil, bs)
}

// decodeMissing decodes a FindMissingBlobsResponse.
func decodeMissing(b []byte) ([]Blob, error) {
	var bs []Blob
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == 2 && typ == protowire.BytesType {
			d, err := decodeDigest(v)
			if err != nil {
				return err
			}
			bs = append(bs, d)
		}
		return nil
	})
	return bs, err
}

// encodeDigest encodes a REAPI Digest (hash = 1, size_bytes = 2).
func encodeDigest(b Blob) ([]byte, error) {
	h, err := parseDigest(b.Digest, b.Size)
	if err != nil {
		return nil, err
	}
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	out = protowire.AppendString(out, h)
	out = protowire.AppendTag(out, 2, protowire.VarintType)
	return protowire.AppendVarint(out, uint64(b.Size)), nil
}

func decodeDigest(b []byte) (Blob, error) {
	var d Blob
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			// REAPI names no algorithm in a Digest: the hash's length
			// tells SHA-1 (40 hex digits) from SHA-256.
			d.Digest = "sha256:" + string(v)
			if len(v) == 40 {
				d.Digest = "sha1:" + string(v)
			}
		case num == 2 && typ == protowire.VarintType:
			n, _ := protowire.ConsumeVarint(v)
			d.Size = int64(n)
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	if _, err := parseDigest(d.Digest, d.Size); err != nil {
		return d, err
	}
	return d, nil
}

// fields calls f with each field of a message; v is the payload of a bytes
// field, or the encoded varint of a varint field.
func fields(b []byte, f func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errors.New("cas: malformed REAPI message")
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			p, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errors.New("cas: malformed REAPI message")
			}
			v, n = p, m
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return errors.New("cas: malformed REAPI message")
			}
			v, n = b[:m], m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errors.New("cas: malformed REAPI message")
			}
		}
		if err := f(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// FindMissing asks the REAPI server on conn which of bs it lacks.
func FindMissing(ctx context.Context, conn grpc.ClientConnInterface, instance string, bs []Blob) ([]Blob, error) {
	req, err := EncodeFindMissing(instance, bs)
	if err != nil {
		return nil, err
	}
	var resp []byte
	if err := conn.Invoke(ctx, FindMissingMethod, &req, &resp, grpc.ForceCodec(RawCodec{})); err != nil {
		return nil, err
	}
	return decodeMissing(resp)
}

// maxBatch keeps one FindMissingBlobs request well under the 4 MiB gRPC
// default (a digest is about 80 bytes).
const maxBatch = 10000

func (s *grpcStore) Missing(ctx context.Context, bs []Blob) ([]Blob, error) {
	var missing []Blob
	for len(bs) > 0 {
		n := min(len(bs), maxBatch)
		m, err := FindMissing(ctx, s.conn, s.instance, bs[:n])
		if err != nil {
			return nil, fmt.Errorf("cas: FindMissingBlobs at %s: %w", s.name, err)
		}
		missing = append(missing, m...)
		bs = bs[n:]
	}
	return missing, nil
}

// writeChunk is the data per ByteStream WriteRequest.
const writeChunk = 1 << 20

func (s *grpcStore) Write(ctx context.Context, digest string, size int64, r io.Reader) error {
	h, err := parseDigest(digest, size)
	if err != nil {
		return err
	}
	if size == 0 {
		return nil
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	resource := "uploads/" + hex.EncodeToString(id[:]) + "/blobs/" + h + "/" + strconv.FormatInt(size, 10)
	if s.instance != "" {
		resource = s.instance + "/" + resource
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.bs.Write(ctx)
	if err != nil {
		return fmt.Errorf("cas: write %s to %s: %w", digest, s.name, err)
	}
	buf := make([]byte, writeChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return rerr
		}
		last := off+int64(n) >= size || rerr != nil
		req := &bytestream.WriteRequest{WriteOffset: off, Data: buf[:n], FinishWrite: last}
		if off == 0 {
			req.ResourceName = resource
		}
		if err := stream.Send(req); err != nil {
			if err == io.EOF {
				// The server ended the stream early: it has the blob already.
				break
			}
			return fmt.Errorf("cas: write %s to %s: %w", digest, s.name, err)
		}
		off += int64(n)
		if last {
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("cas: write %s to %s: %w", digest, s.name, err)
	}
	if off != size && resp.GetCommittedSize() != size && resp.GetCommittedSize() != -1 {
		return fmt.Errorf("cas: write %s: the source gave %d of %d bytes", digest, off, size)
	}
	if resp.GetCommittedSize() != size && resp.GetCommittedSize() != -1 {
		return fmt.Errorf("cas: write %s to %s: committed %d of %d bytes", digest, s.name, resp.GetCommittedSize(), size)
	}
	return nil
}

// CapabilitiesMethod is REAPI's Capabilities.GetCapabilities.
const CapabilitiesMethod = "/build.bazel.remote.execution.v2.Capabilities/GetCapabilities"

// digestFunctionNames are REAPI's DigestFunction.Value numbers.
var digestFunctionNames = map[uint64]string{1: "sha256", 2: "sha1", 3: "md5", 5: "sha384", 6: "sha512", 9: "blake3"}

// DigestFunctions asks the cache which digest functions it keys blobs by
// (lowercase: sha256, sha1, ...), from its CacheCapabilities.
func (s *grpcStore) DigestFunctions(ctx context.Context) ([]string, error) {
	var req []byte
	if s.instance != "" {
		req = protowire.AppendTag(req, 1, protowire.BytesType)
		req = protowire.AppendString(req, s.instance)
	}
	var resp []byte
	if err := s.conn.Invoke(ctx, CapabilitiesMethod, &req, &resp, grpc.ForceCodec(RawCodec{})); err != nil {
		return nil, fmt.Errorf("cas: GetCapabilities at %s: %w", s.name, err)
	}
	var out []string
	add := func(n uint64) {
		if name, ok := digestFunctionNames[n]; ok {
			out = append(out, name)
		} else {
			out = append(out, fmt.Sprintf("digest function %d", n))
		}
	}
	err := fields(resp, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != 1 || typ != protowire.BytesType { // cache_capabilities
			return nil
		}
		return fields(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num != 1 { // digest_functions, packed or not
				return nil
			}
			if typ == protowire.VarintType {
				n, _ := protowire.ConsumeVarint(v)
				add(n)
				return nil
			}
			for len(v) > 0 {
				n, l := protowire.ConsumeVarint(v)
				if l < 0 {
					return protowire.ParseError(l)
				}
				add(n)
				v = v[l:]
			}
			return nil
		})
	})
	return out, err
}
