// Package estargz writes and verifies eStargz layers: gzip members per file
// with a table of contents, which the stargz snapshotter pulls lazily. The
// format itself is the stargz-snapshotter's estargz package (imported here as
// stargz); this package fixes the bytes so they are the same on any machine.
package estargz

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"slices"
	"strconv"
	"time"

	stargz "github.com/containerd/stargz-snapshotter/estargz"
	kgzip "github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/layer/blob"
	"github.com/rules-img/rules_img/pkg/oci"
)

// eStargz annotations on a layer descriptor: the snapshotter checks the TOC
// it fetches against the first, and sizes the layer's cache by the second.
const (
	AnnotationTOCDigest        = stargz.TOCJSONDigestAnnotation
	AnnotationUncompressedSize = stargz.StoreUncompressedSizeAnnotation
)

// Verify opens blob with the estargz package, checks its TOC against
// tocDigest and every chunk of every regular file against the TOC, and
// returns how many regular files it checked.
func Verify(blob *io.SectionReader, tocDigest string) (int, error) {
	r, err := stargz.Open(blob)
	if err != nil {
		return 0, fmt.Errorf("not eStargz: %w", err)
	}
	v, err := r.VerifyTOC(digest.Digest(tocDigest))
	if err != nil {
		return 0, err
	}
	root, ok := r.Lookup("")
	if !ok {
		return 0, errors.New("the TOC has no root directory")
	}
	files := 0
	var walk func(dir string, e *stargz.TOCEntry) error
	walk = func(dir string, e *stargz.TOCEntry) (err error) {
		e.ForeachChild(func(base string, ent *stargz.TOCEntry) bool {
			name := path.Join(dir, base)
			switch ent.Type {
			case "dir":
				err = walk(name, ent)
			case "reg":
				files++
				err = verifyFile(r, v, name, ent)
			}
			return err == nil
		})
		return err
	}
	return files, walk("", root)
}

func verifyFile(r *stargz.Reader, v stargz.TOCEntryVerifier, name string, ent *stargz.TOCEntry) error {
	f, err := r.OpenFile(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for off := int64(0); off < ent.Size; {
		ce, ok := r.ChunkEntryForOffset(name, off)
		if !ok {
			return fmt.Errorf("%s: no chunk at offset %d", name, off)
		}
		n := ce.ChunkSize
		if n == 0 { // the last chunk runs to the end of the file
			n = ent.Size - ce.ChunkOffset
		}
		cv, err := v.Verifier(ce)
		if err != nil {
			return fmt.Errorf("%s@%d: %w", name, off, err)
		}
		if _, err := io.Copy(cv, io.NewSectionReader(f, ce.ChunkOffset, n)); err != nil {
			return fmt.Errorf("%s@%d: %w", name, off, err)
		}
		if !cv.Verified() {
			return fmt.Errorf("%s: the chunk at %d does not match its TOC digest", name, ce.ChunkOffset)
		}
		off = ce.ChunkOffset + n
	}
	return nil
}

// Reserved says whether name (a clean path without a leading slash) is one
// eStargz writes itself: a landmark or the TOC.
func Reserved(name string) bool {
	return name == stargz.TOCTarName || name == stargz.PrefetchLandmark || name == stargz.NoPrefetchLandmark
}

// LandmarkData is the landmark file's content, the format's one byte.
var LandmarkData = []byte{0xf}

// Landmark is the header of the eStargz landmark file: after the
// prioritized files (".prefetch.landmark": the snapshotter prefetches
// everything before it) or first, when there are none
// (".no.prefetch.landmark"). Its attributes are ours, fixed.
func Landmark(prioritized bool) *tar.Header {
	name := stargz.NoPrefetchLandmark
	if prioritized {
		name = stargz.PrefetchLandmark
	}
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(LandmarkData)), Mode: 0o644, ModTime: time.Unix(0, 0)}
}

// LandmarkTar is a tar (without end marker) holding only the no-prefetch
// landmark, for layers made from an existing tar.
func LandmarkTar() []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(Landmark(false))
	tw.Write(LandmarkData)
	tw.Flush()
	return b.Bytes()
}

// WithoutEntries passes the tar that produce writes through, minus
// the entries an eStargz writer adds itself (landmarks and the TOC), so that
// rewriting an eStargz layer does not give it two of them. It costs a copy.
func WithoutEntries(produce func(io.Writer) error) func(io.Writer) error {
	return func(w io.Writer) error {
		r, finish := blob.Pipe(produce)
		err := copyTarWithout(w, r, stargz.PrefetchLandmark, stargz.NoPrefetchLandmark, stargz.TOCTarName)
		if err == nil {
			// What follows the end marker (real tools pad to a 10 KiB
			// record) is read too, or produce could not finish writing it.
			_, err = io.Copy(io.Discard, r)
		}
		if perr := finish(); perr != nil {
			return perr
		}
		return err
	}
}

// copyTarWithout copies the tar in r to w, leaving out the entries named.
func copyTarWithout(w io.Writer, r io.Reader, names ...string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return err
		}
		if slices.Contains(names, path.Clean(h.Name)) {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// Write writes the tar that produce writes as an eStargz blob:
// every regular file's data starts a new gzip member (cut every 4 MiB), and
// a gzip member with the TOC (stargz.index.json) and the 51-byte footer
// follow. It is one streaming pass: produce runs on its own goroutine and
// the estargz package's writer reads its tar through a pipe. The members use
// klauspost's gzip with our fixed header, so the bytes are the same on every
// machine; c.Jobs does not apply (one member at a time).
func Write(dst io.Writer, c compress.Options, head []byte, produce func(io.Writer) error) (oci.LayerMetadata, error) {
	if c.Algorithm != compress.Gzip {
		return oci.LayerMetadata{}, fmt.Errorf("eStargz is gzip: compression %q cannot be eStargz; use gzip or turn eStargz off", c.Algorithm)
	}
	if err := c.Validate(); err != nil {
		return oci.LayerMetadata{}, err
	}
	level := c.Level
	if level == -1 {
		level = kgzip.DefaultCompression
	}
	out := blob.NewAsyncDigester()
	defer out.Close()
	bw := bufio.NewWriterSize(io.MultiWriter(blob.SmallWrites{W: dst}, out), blob.WriteSize)
	gz := &estargzGzip{level: level}
	w := stargz.NewWriterWithCompressor(bw, gz)

	if len(head) > 0 {
		if err := w.AppendTar(bytes.NewReader(head)); err != nil {
			return oci.LayerMetadata{}, err
		}
	}
	r, finish := blob.Pipe(produce)
	err := w.AppendTar(bufio.NewReaderSize(r, 1<<20))
	if perr := finish(); perr != nil {
		return oci.LayerMetadata{}, perr
	}
	if err != nil {
		return oci.LayerMetadata{}, err
	}
	toc, err := w.Close()
	if err != nil {
		return oci.LayerMetadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return oci.LayerMetadata{}, err
	}
	return oci.LayerMetadata{
		MediaType: compress.MediaType(compress.Gzip),
		Digest:    out.Digest(),
		Size:      out.Size(),
		DiffID:    w.DiffID(),
		Annotations: map[string]string{
			AnnotationTOCDigest:        toc.String(),
			AnnotationUncompressedSize: strconv.FormatInt(gz.uncompressed, 10),
		},
	}, nil
}

// estargzGzip is the stargz.Compressor for our members. It reuses one
// gzip writer (the package closes a member before it opens the next) and
// counts the uncompressed bytes, entries and TOC, for the size annotation.
type estargzGzip struct {
	level        int
	z            *kgzip.Writer
	uncompressed int64
}

func (g *estargzGzip) Writer(w io.Writer) (stargz.WriteFlushCloser, error) {
	if g.z == nil {
		z, err := compress.NewGzipMember(w, g.level)
		if err != nil {
			return nil, err
		}
		g.z = z
	} else {
		compress.ResetGzipMember(g.z, w)
	}
	return &countingMember{z: g.z, n: &g.uncompressed}, nil
}

// WriteTOCAndFooter leaves the TOC to the estargz package, which owns that
// format; only the hash it feeds is wrapped, to count the TOC's bytes.
func (g *estargzGzip) WriteTOCAndFooter(w io.Writer, off int64, toc *stargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	return stargz.NewGzipCompressorWithLevel(g.level).WriteTOCAndFooter(w, off, toc, countingHash{diffHash, &g.uncompressed})
}

type countingMember struct {
	z *kgzip.Writer
	n *int64
}

func (m *countingMember) Write(p []byte) (int, error) {
	n, err := m.z.Write(p)
	*m.n += int64(n)
	return n, err
}
func (m *countingMember) Flush() error { return m.z.Flush() }
func (m *countingMember) Close() error { return m.z.Close() }

type countingHash struct {
	hash.Hash
	n *int64
}

func (h countingHash) Write(p []byte) (int, error) {
	*h.n += int64(len(p))
	return h.Hash.Write(p)
}
