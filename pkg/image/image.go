// Package image is the in-memory form of a built image that push and load
// work on: raw manifest, config and index bytes exactly as the build wrote
// them, and layers whose bytes are opened only when a peer needs them.
package image

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// Opener opens a blob's bytes. The reader it returns must fail at EOF when
// the bytes do not match the digest (see Verify); a Bazel output the digest
// was computed from may be checked for its length only (see CheckLength).
// Registries and containerd hash what they receive anyway, so a push or a
// containerd load takes such a reader as it is (and explains a refusal
// with ChangedOutput); a writer whose output nobody checks wraps it with
// Ensure.
type Opener func(ctx context.Context) (io.ReadCloser, error)

// Layer is one layer blob of a manifest.
type Layer struct {
	MediaType oci.MediaType
	Digest    string // sha256 of the blob
	Size      int64
	DiffID    string
	// CASDigest is its key in the Bazel remote cache, when not Digest
	// (a cache keyed by --digest_function=SHA1).
	CASDigest string
	// Source is set for base-image layers: a repository that holds the
	// blob, so a push to the same registry can mount it instead of
	// uploading.
	Source *oci.BlobSource
	// Open streams the bytes: a local file, the Bazel remote cache or the
	// source registry, whichever the caller resolved. Never nil.
	Open Opener
}

// Manifest is one single-platform image.
type Manifest struct {
	Raw             []byte // the manifest JSON as written by the build
	Digest          string
	MediaType       oci.MediaType
	Platform        oci.Platform
	Config          []byte // the config JSON as written by the build
	ConfigDigest    string
	ConfigMediaType oci.MediaType
	Layers          []Layer // base layers first, as in the manifest
	// Artifacts go where the image goes, before it: its SOCI index, which
	// the manifest names by an annotation. Their layers are small blobs.
	Artifacts []Manifest
}

// Image is what push and load receive: a single manifest, or an index and
// the manifests it lists (in index order).
type Image struct {
	Index       []byte // raw index JSON; nil for a single manifest
	IndexDigest string
	Manifests   []Manifest
}

// IsIndex reports whether the image is a multi-platform index.
func (i *Image) IsIndex() bool { return i.Index != nil }

// RootDigest is the digest a registry or daemon will know the image by.
func (i *Image) RootDigest() string {
	if i.IsIndex() {
		return i.IndexDigest
	}
	return i.Manifests[0].Digest
}

// Verify wraps r so that reading it to EOF fails unless exactly size bytes
// with the given sha256 digest came through. name is used in the error.
func Verify(r io.ReadCloser, digest string, size int64, name string) io.ReadCloser {
	h, err := oci.NewHash(digest)
	if err != nil {
		h = sha256.New() // the digest cannot match: reading fails with both
	}
	return &verifier{r: r, h: h, digest: digest, size: size, name: name}
}

// ChangedOutput is what to do when a registry or daemon finds that a build
// output CheckLength let through does not match its digest.
const ChangedOutput = "the local file changed after Bazel built it, or the disk is corrupt: run the target again with bazel run, which rebuilds a changed output; if it fails again, run bazel clean and build again"

// CheckLength is Verify without the hash: reading to EOF fails unless
// exactly size bytes came through. For a build output whose digest the
// build computed from these very bytes: hashing it again on every push
// costs a core about a second per GiB, and the registry checks the digest.
func CheckLength(r io.ReadCloser, digest string, size int64, name string) io.ReadCloser {
	return &verifier{r: r, digest: digest, size: size, name: name}
}

// Ensure returns r checked against its digest: as it is when it already
// is (Verify), else wrapped with Verify.
func Ensure(r io.ReadCloser, digest string, size int64, name string) io.ReadCloser {
	if v, ok := r.(*verifier); ok && v.h != nil && v.digest == digest && v.size == size {
		return r
	}
	return Verify(r, digest, size, name)
}

type verifier struct {
	r      io.ReadCloser
	h      hash.Hash
	n      int64
	digest string
	size   int64
	name   string
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if v.h != nil {
		v.h.Write(p[:n])
	}
	v.n += int64(n)
	if v.n > v.size {
		return n, fmt.Errorf("%s: more than the expected %d bytes of blob %s", v.name, v.size, v.digest)
	}
	if err == io.EOF {
		if v.n != v.size {
			return n, fmt.Errorf("%s: blob %s ended after %d of %d bytes", v.name, v.digest, v.n, v.size)
		}
		if v.h == nil {
			return n, err
		}
		alg, _, _ := strings.Cut(v.digest, ":")
		if got := oci.DigestOf(alg, v.h); got != v.digest {
			return n, fmt.Errorf("%s: blob %s arrived with digest %s; the source holds different bytes", v.name, v.digest, got)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.r.Close() }
