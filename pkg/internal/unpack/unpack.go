// Package unpack opens the compressions package archives use (a .deb's
// members, an RPM's payload, an archive's Packages index): one reader per
// name, for pkg/deb and pkg/rpm alike.
package unpack

import (
	"compress/bzip2"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Names are the compressions Reader opens; "" is none.
var Names = []string{"gzip", "xz", "zstd", "bzip2"}

// Reader decompresses r by the compression's name. Close releases what the
// decoder holds.
func Reader(name string, r io.Reader) (io.Reader, func(), error) {
	none := func() {}
	switch name {
	case "":
		return r, none, nil
	case "gzip":
		z, err := gzip.NewReader(r)
		return z, none, err
	case "xz":
		z, err := xz.NewReader(r)
		return z, none, err
	case "zstd":
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, none, err
		}
		return z, z.Close, nil
	case "bzip2":
		return bzip2.NewReader(r), none, nil
	}
	return nil, none, fmt.Errorf("compression %q is not one of %s", name, strings.Join(Names, ", "))
}

// suffixes are file name endings by compression.
var suffixes = map[string]string{".gz": "gzip", ".xz": "xz", ".zst": "zstd", ".bz2": "bzip2"}

// ByName names the compression of a file by its ending (data.tar.xz,
// Packages.gz); ok is false for an ending it does not know.
func ByName(file string) (name string, ok bool) {
	for suffix, n := range suffixes {
		if strings.HasSuffix(file, suffix) {
			return n, true
		}
	}
	return "", false
}
