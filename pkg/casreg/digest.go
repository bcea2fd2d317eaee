package casreg

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// The registry takes the two digest algorithms the distribution spec names.
// The CAS keeps every blob under its sha256 (Bazel's default digest
// function); a sha512-addressed blob is mapped to that key in the store.
var digestAlgs = map[string]struct {
	hexLen int
	hash   func() hash.Hash
}{
	"sha256": {64, sha256.New},
	"sha512": {128, sha512.New},
}

// validDigest checks ALG:HEX for an algorithm above, lowercase hex.
func validDigest(d string) error {
	alg, h, ok := strings.Cut(d, ":")
	a, known := digestAlgs[alg]
	if !ok || !known {
		return fmt.Errorf("digest %q: want sha256:<64 hex digits> or sha512:<128 hex digits>", d)
	}
	if len(h) != a.hexLen || strings.ToLower(h) != h {
		return fmt.Errorf("digest %q: want %s:<%d lowercase hex digits>", d, alg, a.hexLen)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return fmt.Errorf("digest %q: want %s:<%d lowercase hex digits>", d, alg, a.hexLen)
	}
	return nil
}

// hasherFor returns a new hash for a valid digest's algorithm.
func hasherFor(d string) hash.Hash {
	alg, _, _ := strings.Cut(d, ":")
	return digestAlgs[alg].hash()
}

// digestAs is the digest of b with the algorithm of like (a valid digest).
func digestAs(like string, b []byte) string {
	alg, _, _ := strings.Cut(like, ":")
	h := digestAlgs[alg].hash()
	h.Write(b)
	return alg + ":" + hex.EncodeToString(h.Sum(nil))
}

func sum(alg string, h hash.Hash) string { return alg + ":" + hex.EncodeToString(h.Sum(nil)) }

// keyOf names a valid digest's files in the data directory: the bare hex
// for sha256 (as data directories have always had it), ALG-HEX otherwise.
func keyOf(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok {
		return h
	}
	return strings.Replace(d, ":", "-", 1)
}
