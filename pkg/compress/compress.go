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
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/rules-img/rules_img/pkg/oci"
)

// Algorithm names.
const (
	Gzip     = "gzip"
	Zstd     = "zstd"
	ZstdLong = "zstd-long"
	None     = "none"
)

// pgzipBlockSize is part of the output format for Jobs > 1: changing it
// changes every parallel-gzip layer digest.
const pgzipBlockSize = 1 << 20

// Options selects the compression of a layer blob.
type Options struct {
	Algorithm string // a Name from the table
	Level     int    // -1: algorithm default; else MinLevel-MaxLevel; ignored without levels
	Jobs      int    // parallelism; 0 is treated as 1
}

// Algorithm is everything rules_img knows about one layer compression. The
// table below is the only place that knows it: media types, file
// extensions, levels, detection and the codec all come from here.
type Algorithm struct {
	Name string // the value of --compress and of the compress attributes
	// Ext ends the name of a tar compressed so.
	Ext string
	// MediaType and NonDistributable are OCI's layer types; DockerMediaType
	// and DockerForeign are Docker's v2 schema 2 names for the same bytes,
	// "" where there is none.
	MediaType, NonDistributable    oci.MediaType
	DockerMediaType, DockerForeign oci.MediaType
	// DockerReads: Docker's own tools read such layers in every version
	// (before 23, Docker cannot read zstd).
	DockerReads bool
	// MinLevel and MaxLevel bound --level; -1 always means the default.
	// MaxLevel < MinLevel: the algorithm has no levels.
	MinLevel, MaxLevel int
	magic              []byte // the stream's first bytes
	// suffix ends its media types, OCI's ("+gzip") and Docker's (".gzip")
	// alike; artifact types such as Helm charts' follow it too.
	suffix string
	writer func(w io.Writer, level, jobs int) (io.WriteCloser, error)
	reader func(r io.Reader) (io.ReadCloser, error)
}

// algorithms is the table. Where two share a media type or magic bytes,
// the first is what a blob of that type is read as. None comes last: it
// matches what no other does.
var algorithms = []*Algorithm{
	{
		Name: Gzip, Ext: ".tar.gz",
		MediaType: oci.MediaTypeLayerGzip, NonDistributable: oci.MediaTypeLayerNondistributableGz,
		DockerMediaType: oci.MediaTypeDockerLayerGzip, DockerForeign: oci.MediaTypeDockerForeignLayerGzip,
		DockerReads: true,
		MinLevel:    0, MaxLevel: 9,
		magic: []byte{0x1f, 0x8b}, suffix: "gzip",
		writer: newGzip,
		reader: func(r io.Reader) (io.ReadCloser, error) { return kgzip.NewReader(r) },
	},
	zstdFamily(Zstd, 1, newZstd),
	// zstd with a 128 MiB window, in one frame whatever the jobs: a
	// match may reach back further than zstd's 8 MiB window and its
	// 4 MiB parallel frames allow. 128 MiB is the largest window every
	// decoder takes by default (the zstd CLI's limit); the encoder holds
	// about twice that. Only the two strongest levels search that far
	// (klauspost's faster ones keep too few positions), so those are its
	// levels, and the default is the strongest.
	zstdFamily(ZstdLong, 3, newZstdLong),
	{
		Name: None, Ext: ".tar",
		MediaType: oci.MediaTypeLayer, NonDistributable: oci.MediaTypeLayerNondistributable,
		DockerMediaType: oci.MediaTypeDockerLayer, DockerReads: true,
		MinLevel: 0, MaxLevel: -1,
		writer: func(w io.Writer, _, _ int) (io.WriteCloser, error) { return nopCloser{w}, nil },
		reader: func(r io.Reader) (io.ReadCloser, error) { return io.NopCloser(r), nil },
	},
}

// zstdFamily is a zstd row: every zstd variant writes the same kind of blob,
// read the same way, and differs only in its name, levels and writer.
func zstdFamily(name string, minLevel int, writer func(io.Writer, int, int) (io.WriteCloser, error)) *Algorithm {
	return &Algorithm{
		Name: name, Ext: ".tar.zst",
		MediaType: oci.MediaTypeLayerZstd, NonDistributable: oci.MediaTypeLayerNondistributableZstd,
		DockerMediaType: oci.MediaTypeDockerLayerZstd,
		MinLevel:        minLevel, MaxLevel: len(zstdLevels) - 1,
		magic: []byte{0x28, 0xb5, 0x2f, 0xfd}, suffix: "zstd",
		writer: writer,
		reader: newZstdReader,
	}
}

// Names lists the algorithms, as --compress and the attributes take them.
func Names() []string {
	var out []string
	for _, a := range algorithms {
		out = append(out, a.Name)
	}
	return out
}

// Lookup returns the algorithm called name.
func Lookup(name string) (*Algorithm, error) {
	for _, a := range algorithms {
		if a.Name == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("unknown compression %q; allowed: %s", name, strings.Join(Names(), ", "))
}

// MediaType returns the OCI layer media type for algorithm, or "" if the
// algorithm is unknown.
func MediaType(algorithm string) oci.MediaType {
	if a, err := Lookup(algorithm); err == nil {
		return a.MediaType
	}
	return ""
}

// OfMediaType returns the algorithm of a layer media type (OCI's or
// Docker's, distributable or not); anything else is read as uncompressed.
func OfMediaType(m oci.MediaType) *Algorithm {
	for _, a := range algorithms {
		if a.suffix != "" && strings.HasSuffix(string(m), a.suffix) {
			return a
		}
	}
	return algorithms[len(algorithms)-1]
}

// Of is the name of OfMediaType(m), the inverse of MediaType.
func Of(m oci.MediaType) string { return OfMediaType(m).Name }

// Detect sniffs the compression of a stream from its first bytes.
func Detect(header []byte) string {
	for _, a := range algorithms {
		if len(a.magic) > 0 && bytes.HasPrefix(header, a.magic) {
			return a.Name
		}
	}
	return None
}

// DockerMediaType maps a layer media type to Docker's v2 schema 2 one for
// the same bytes; false when there is none, or Docker's tools cannot read
// such a layer.
func DockerMediaType(m oci.MediaType) (oci.MediaType, bool) {
	for _, a := range algorithms {
		switch {
		case m == "":
		case m == a.MediaType || m == a.DockerMediaType:
			return a.DockerMediaType, a.DockerReads && a.DockerMediaType != ""
		case m == a.NonDistributable || m == a.DockerForeign:
			return a.DockerForeign, a.DockerReads && a.DockerForeign != ""
		}
	}
	return "", false
}

// Validate checks o without creating a writer.
func (o Options) Validate() error {
	if o.Jobs < 0 {
		return fmt.Errorf("jobs must be >= 0, got %d", o.Jobs)
	}
	a, err := Lookup(o.Algorithm)
	if err != nil {
		return err
	}
	if a.MaxLevel >= a.MinLevel && o.Level != -1 && (o.Level < a.MinLevel || o.Level > a.MaxLevel) {
		return fmt.Errorf("%s level must be -1 (default) or %d-%d, got %d", a.Name, a.MinLevel, a.MaxLevel, o.Level)
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
	a, _ := Lookup(o.Algorithm)
	jobs := max(o.Jobs, 1)
	if jobs > 1 {
		// The bytes do not depend on the worker count above 1, so capping it
		// is free; each worker holds buffers, and Bazel runs layer actions
		// side by side.
		jobs = min(jobs, maxWorkers)
	}
	return a.writer(w, o.Level, jobs)
}

func newGzip(w io.Writer, level, jobs int) (io.WriteCloser, error) {
	if level == -1 {
		level = kgzip.DefaultCompression
	}
	if jobs == 1 {
		z, err := NewGzipMember(w, level)
		if err != nil {
			return nil, err
		}
		return z, nil
	}
	z, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	if err := z.SetConcurrency(pgzipBlockSize, jobs); err != nil {
		return nil, err
	}
	// The zero time.Time would be written as a nonzero uint32.
	z.ModTime = time.Unix(0, 0)
	z.OS = 255
	return z, nil
}

// NewGzipMember returns klauspost's gzip writer with rules_img's fixed
// header (no name, mtime 0, OS unknown), for writers that cut their own
// members, such as eStargz's.
func NewGzipMember(w io.Writer, level int) (*kgzip.Writer, error) {
	z, err := kgzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	fixHeader(z)
	return z, nil
}

// ResetGzipMember starts a new member of z into w, with the same header.
func ResetGzipMember(z *kgzip.Writer, w io.Writer) {
	z.Reset(w) // clears the header
	fixHeader(z)
}

func fixHeader(z *kgzip.Writer) {
	// The zero time.Time would be written as a nonzero uint32.
	z.ModTime = time.Unix(0, 0)
	z.OS = 255
}

func zstdLevel(level int) zstd.EncoderLevel {
	if level == -1 {
		return zstd.SpeedDefault
	}
	return zstdLevels[level]
}

func newZstd(w io.Writer, level, jobs int) (io.WriteCloser, error) {
	l := zstdLevel(level)
	if jobs > 1 {
		return newZstdChunked(w, l, jobs)
	}
	return newZstdSingle(w, l)
}

func newZstdReader(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r)
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil
}

type nopCloser struct{ w io.Writer }

func (n nopCloser) Write(p []byte) (int, error) { return n.w.Write(p) }
func (nopCloser) Close() error                  { return nil }

// NewReader returns a reader that decompresses r. Close releases decoder
// resources but does not close r.
func NewReader(r io.Reader, algorithm string) (io.ReadCloser, error) {
	a, err := Lookup(algorithm)
	if err != nil {
		return nil, err
	}
	return a.reader(r)
}

// ToOCI maps a Docker layer media type to OCI's for the same bytes: mixing
// both kinds in one manifest confuses some registries. Other types are
// returned as they are.
func ToOCI(m oci.MediaType) oci.MediaType {
	for _, a := range algorithms {
		switch {
		case m == "":
		case m == a.DockerMediaType:
			return a.MediaType
		case m == a.DockerForeign:
			return a.NonDistributable
		}
	}
	return m
}

// Levels describes the level ranges, for help texts: "gzip 0-9, zstd 1-4".
func Levels() string {
	var out []string
	for _, a := range algorithms {
		if a.MaxLevel >= a.MinLevel {
			out = append(out, fmt.Sprintf("%s %d-%d", a.Name, a.MinLevel, a.MaxLevel))
		}
	}
	return strings.Join(out, ", ")
}
