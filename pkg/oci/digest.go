package oci

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strings"
)

// Digest algorithms by their name in a digest (ALG:HEX): the two OCI
// names, and sha1, which a Bazel remote cache may key blobs by
// (--digest_function=SHA1) but no image refers to.
var digestAlgorithms = map[string]struct {
	hexLen int
	hash   func() hash.Hash
}{
	"sha256": {64, sha256.New},
	"sha512": {128, sha512.New},
	"sha1":   {40, sha1.New},
}

// CAS digest functions rules_img reads a Bazel remote cache with: Bazel's
// --digest_function values that Bazel 7 and common caches share.
const (
	CASSHA256 = "sha256"
	CASSHA1   = "sha1"
)

// CASDigestFunction normalises a digest function's name as Bazel spells it
// (SHA256, SHA1) or as rules_img does; "" is SHA-256.
func CASDigestFunction(name string) (string, error) {
	switch f := strings.ToLower(name); f {
	case "", CASSHA256:
		return CASSHA256, nil
	case CASSHA1:
		return f, nil
	}
	return "", fmt.Errorf("digest function %q: rules_img reads remote caches keyed by sha256 or sha1 (Bazel's --digest_function=SHA256 or SHA1)", name)
}

// NewHash returns a hash of a digest's algorithm (sha256, sha512, sha1).
func NewHash(digest string) (hash.Hash, error) {
	alg, _, _ := strings.Cut(digest, ":")
	a, ok := digestAlgorithms[alg]
	if !ok {
		return nil, fmt.Errorf("digest %q: unknown algorithm %q", digest, alg)
	}
	return a.hash(), nil
}

// DigestOf formats a finished hash as a digest of algorithm alg.
func DigestOf(alg string, h hash.Hash) string { return alg + ":" + hex.EncodeToString(h.Sum(nil)) }

// DigestWith is the digest of b with algorithm alg (a name above).
func DigestWith(alg string, b []byte) string {
	h := digestAlgorithms[alg].hash()
	h.Write(b)
	return DigestOf(alg, h)
}

// CheckCASDigest accepts a remote cache's key: sha256:<64 hex> or
// sha1:<40 hex>, lowercase.
func CheckCASDigest(d string) error {
	if checkDigestOf(d, "sha256", "sha1") != nil {
		return fmt.Errorf("digest %q is not a remote cache key (sha256:<64 lowercase hex> or sha1:<40 lowercase hex>)", d)
	}
	return nil
}

// CheckRegistryDigest accepts the digests the distribution spec names:
// sha256:<64 hex> or sha512:<128 hex>, lowercase.
func CheckRegistryDigest(d string) error {
	if checkDigestOf(d, "sha256", "sha512") != nil {
		return fmt.Errorf("digest %q: want sha256:<64 lowercase hex digits> or sha512:<128 lowercase hex digits>", d)
	}
	return nil
}

func checkDigestOf(d string, algs ...string) error {
	alg, h, _ := strings.Cut(d, ":")
	a, ok := digestAlgorithms[alg]
	if !ok || !slices.Contains(algs, alg) || len(h) != a.hexLen || strings.Trim(h, "0123456789abcdef") != "" {
		return fmt.Errorf("digest %q", d)
	}
	return nil
}
