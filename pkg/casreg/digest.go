package casreg

import "strings"

// keyOf names a valid digest's files in the data directory: the bare hex
// for sha256 (as data directories have always had it), ALG-HEX otherwise.
func keyOf(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok {
		return h
	}
	return strings.Replace(d, ":", "-", 1)
}
