// Package compress wraps the layer compression algorithms rules_img supports
// behind one reproducible interface: for a given algorithm, level and input,
// the output bytes are fixed, so layer digests are stable across machines.
//
// Reproducibility notes:
//   - gzip: the header carries no name, mtime 0 and OS byte 255 ("unknown").
//     Jobs == 1 uses klauspost/compress/gzip; Jobs > 1 uses pgzip, which cuts
//     the input into fixed 1 MiB blocks and compresses each with the previous
//     block's tail as dictionary. The pgzip output therefore depends on the
//     block size (fixed here) but not on how many blocks run in parallel, so
//     every Jobs > 1 gives the same bytes; Jobs == 1 gives different (also
//     fixed) bytes. Both engines share klauspost's flate, pinned by go.mod.
//   - zstd: klauspost/compress/zstd. Jobs == 1 writes one frame: with
//     EncodeAll for an input of at most 4 MiB, with the streaming encoder for
//     a longer one. Jobs > 1 cuts the input into fixed 4 MiB chunks
//     (zstdChunkSize) and compresses each with EncodeAll as an independent
//     frame on a pool of Jobs workers (one single-threaded encoder each),
//     writing the frames in input order; concatenated frames are one valid
//     zstd stream (RFC 8878). Like pgzip, the output depends on the chunk
//     size (fixed here) but not on Jobs or timing, so every Jobs > 1 gives
//     the same bytes; an input of at most one chunk gives the Jobs == 1
//     bytes. Every frame has a checksum (see zstdOptions).
//     klauspost's WithConcurrentBlocks is deliberately not used: it differs
//     from the Jobs == 1 bytes anyway, buffers 4 × window (32 MiB) per job,
//     and does not promise output independent of the concurrency.
package compress

import (
	"fmt"
	"io"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/rules-img/rules_img/pkg/oci"
)

// Algorithm names.
const (
	Gzip = "gzip"
	Zstd = "zstd"
	None = "none"
)

// pgzipBlockSize is part of the output format for Jobs > 1: changing it
// changes every parallel-gzip layer digest.
const pgzipBlockSize = 1 << 20

// Options selects the compression of a layer blob.
type Options struct {
	Algorithm string // "gzip", "zstd" or "none"
	Level     int    // -1: algorithm default; gzip 0-9; zstd 1-4; ignored for none
	Jobs      int    // parallelism; 0 is treated as 1
}

// MediaType returns the OCI layer media type for algorithm, or "" if the
// algorithm is unknown.
func MediaType(algorithm string) oci.MediaType {
	switch algorithm {
	case Gzip:
		return oci.MediaTypeLayerGzip
	case Zstd:
		return oci.MediaTypeLayerZstd
	case None:
		return oci.MediaTypeLayer
	}
	return ""
}

// Of returns the algorithm a layer media type names (OCI's or Docker's),
// the inverse of MediaType; anything else is read as uncompressed.
func Of(m oci.MediaType) string {
	switch {
	case m.IsGzip():
		return Gzip
	case m.IsZstd():
		return Zstd
	}
	return None
}

// Detect sniffs the compression of a stream from its first bytes.
func Detect(header []byte) string {
	switch {
	case len(header) >= 2 && header[0] == 0x1f && header[1] == 0x8b:
		return Gzip
	case len(header) >= 4 && header[0] == 0x28 && header[1] == 0xb5 && header[2] == 0x2f && header[3] == 0xfd:
		return Zstd
	}
	return None
}

// Validate checks o without creating a writer.
func (o Options) Validate() error {
	if o.Jobs < 0 {
		return fmt.Errorf("jobs must be >= 0, got %d", o.Jobs)
	}
	switch o.Algorithm {
	case Gzip:
		if o.Level < -1 || o.Level > 9 {
			return fmt.Errorf("gzip level must be -1 (default) or 0-9, got %d", o.Level)
		}
	case Zstd:
		if o.Level < -1 || o.Level == 0 || o.Level > 4 {
			return fmt.Errorf("zstd level must be -1 (default) or 1-4, got %d", o.Level)
		}
	case None:
	default:
		return fmt.Errorf("unknown compression %q; allowed: gzip, zstd, none", o.Algorithm)
	}
	return nil
}

// zstdLevels maps the CLI levels 1-4 onto klauspost's encoder levels.
var zstdLevels = [...]zstd.EncoderLevel{
	1: zstd.SpeedFastest,
	2: zstd.SpeedDefault,
	3: zstd.SpeedBetterCompression,
	4: zstd.SpeedBestCompression,
}

// maxWorkers bounds parallel compression of one layer (and its memory).
const maxWorkers = 8

// NewWriter returns a writer that compresses into w. Close flushes the
// compressed stream but does not close w.
func NewWriter(w io.Writer, o Options) (io.WriteCloser, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	jobs := max(o.Jobs, 1)
	if jobs > 1 {
		// The bytes do not depend on the worker count above 1, so capping it
		// is free; each worker holds buffers, and Bazel runs layer actions
		// side by side.
		jobs = min(jobs, maxWorkers)
	}
	switch o.Algorithm {
	case Gzip:
		level := o.Level
		if level == -1 {
			level = kgzip.DefaultCompression
		}
		if jobs == 1 {
			z, err := kgzip.NewWriterLevel(w, level)
			if err != nil {
				return nil, err
			}
			// The zero time.Time would be written as a nonzero uint32.
			z.ModTime = time.Unix(0, 0)
			z.OS = 255
			return z, nil
		}
		z, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, err
		}
		if err := z.SetConcurrency(pgzipBlockSize, jobs); err != nil {
			return nil, err
		}
		z.ModTime = time.Unix(0, 0)
		z.OS = 255
		return z, nil
	case Zstd:
		level := zstd.SpeedDefault
		if o.Level != -1 {
			level = zstdLevels[o.Level]
		}
		if jobs > 1 {
			return newZstdChunked(w, level, jobs)
		}
		return newZstdSingle(w, level)
	default: // None
		return nopCloser{w}, nil
	}
}

type nopCloser struct{ w io.Writer }

func (n nopCloser) Write(p []byte) (int, error) { return n.w.Write(p) }
func (nopCloser) Close() error                  { return nil }

// NewReader returns a reader that decompresses r. Close releases decoder
// resources but does not close r.
func NewReader(r io.Reader, algorithm string) (io.ReadCloser, error) {
	switch algorithm {
	case Gzip:
		return kgzip.NewReader(r)
	case Zstd:
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case None:
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("unknown compression %q; allowed: gzip, zstd, none", algorithm)
}
