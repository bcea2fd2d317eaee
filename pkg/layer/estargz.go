package layer

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

	"github.com/containerd/stargz-snapshotter/estargz"
	kgzip "github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// eStargz annotations on a layer descriptor: the snapshotter checks the TOC
// it fetches against the first, and sizes the layer's cache by the second.
const (
	AnnotationTOCDigest        = estargz.TOCJSONDigestAnnotation
	AnnotationUncompressedSize = estargz.StoreUncompressedSizeAnnotation
)

// VerifyEStargz opens blob with the estargz package, checks its TOC against
// tocDigest and every chunk of every regular file against the TOC, and
// returns how many regular files it checked.
func VerifyEStargz(blob *io.SectionReader, tocDigest string) (int, error) {
	r, err := estargz.Open(blob)
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
	var walk func(dir string, e *estargz.TOCEntry) error
	walk = func(dir string, e *estargz.TOCEntry) (err error) {
		e.ForeachChild(func(base string, ent *estargz.TOCEntry) bool {
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

func verifyFile(r *estargz.Reader, v estargz.TOCEntryVerifier, name string, ent *estargz.TOCEntry) error {
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

// landmarkEntry is the eStargz landmark file: after the prioritized files
// (".prefetch.landmark": the snapshotter prefetches everything before it) or
// first, when there are none (".no.prefetch.landmark"). Its content is the
// format's one byte; its attrs are ours, fixed.
func landmarkEntry(prioritized bool) *item {
	name := estargz.NoPrefetchLandmark
	if prioritized {
		name = estargz.PrefetchLandmark
	}
	return &item{name: name, kind: tar.TypeReg, size: 1, data: []byte{0xf}, origin: "eStargz landmark",
		attrs: attrs{mode: 0o644, mtime: time.Unix(0, 0)}}
}

// estargzOrder moves the prioritized paths (each with its parent
// directories, in the order given) to the front of items and puts the
// landmark after them. Everything else keeps its order. A path missing from
// the layer is an error: a typo would silently make lazy pulling slow.
func estargzOrder(spec *Spec, items []*item) ([]*item, error) {
	byName := make(map[string]int, len(items))
	for i, it := range items {
		switch it.name {
		case estargz.TOCTarName, estargz.PrefetchLandmark, estargz.NoPrefetchLandmark:
			return nil, spec.errorf("/%s (%s) is a name eStargz reserves for its own entries; move the file, or turn eStargz off", it.name, it.origin)
		}
		byName[it.name] = i
	}
	picked := make([]bool, len(items))
	var front []*item
	pick := func(name string) bool {
		i, ok := byName[name]
		if ok && !picked[i] {
			picked[i] = true
			front = append(front, items[i])
		}
		return ok
	}
	for _, p := range spec.PrioritizedFiles {
		rel, err := checkPath(p)
		if err != nil || rel == "" {
			return nil, spec.errorf("prioritized_files: %q is not a file path in the image", p)
		}
		var parents []string
		for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
			parents = append(parents, dir)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			pick(parents[i])
		}
		if !pick(rel) {
			return nil, spec.errorf("prioritized_files: %s is not in the layer; list paths of its srcs or symlinks", p)
		}
	}
	out := append(front, landmarkEntry(len(spec.PrioritizedFiles) > 0))
	for i, it := range items {
		if !picked[i] {
			out = append(out, it)
		}
	}
	return out, nil
}

// landmarkTar is a tar (without end marker) holding only the no-prefetch
// landmark, for layers made from an existing tar.
func landmarkTar() []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	it := landmarkEntry(false)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: it.name, Size: it.size, Mode: it.attrs.mode, ModTime: it.attrs.mtime})
	tw.Write(it.data)
	tw.Flush()
	return b.Bytes()
}

// withoutEStargzEntries passes the tar that produce writes through, minus
// the entries an eStargz writer adds itself (landmarks and the TOC), so that
// rewriting an eStargz layer does not give it two of them. It costs a copy.
func withoutEStargzEntries(produce func(io.Writer) error) func(io.Writer) error {
	return func(w io.Writer) error {
		r, finish := piped(produce)
		err := copyTarWithout(w, r, estargz.PrefetchLandmark, estargz.NoPrefetchLandmark, estargz.TOCTarName)
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

// piped runs produce on a goroutine of its own, writing into a pipe that r
// reads. finish, called once the reading is done or has failed, unblocks
// produce if it still writes and returns produce's error: that error is the
// cause when both sides fail.
func piped(produce func(io.Writer) error) (r io.Reader, finish func() error) {
	pr, pw := io.Pipe()
	produced := make(chan error, 1)
	go func() {
		err := produce(pw)
		pw.CloseWithError(err)
		produced <- err
	}()
	return pr, func() error {
		pr.CloseWithError(io.ErrClosedPipe)
		return <-produced
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

// estargzCompressed writes the tar that produce writes as an eStargz blob:
// every regular file's data starts a new gzip member (cut every 4 MiB), and
// a gzip member with the TOC (stargz.index.json) and the 51-byte footer
// follow. It is one streaming pass: produce runs on its own goroutine and
// the estargz package's writer reads its tar through a pipe. The members use
// klauspost's gzip with our fixed header, so the bytes are the same on every
// machine; c.Jobs does not apply (one member at a time).
func estargzCompressed(blob io.Writer, c compress.Options, head []byte, produce func(io.Writer) error) (oci.LayerMetadata, error) {
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
	out := newAsyncDigester()
	defer out.close()
	bw := bufio.NewWriterSize(io.MultiWriter(smallWrites{blob}, out), writeSize)
	gz := &estargzGzip{level: level}
	w := estargz.NewWriterWithCompressor(bw, gz)

	if len(head) > 0 {
		if err := w.AppendTar(bytes.NewReader(head)); err != nil {
			return oci.LayerMetadata{}, err
		}
	}
	r, finish := piped(produce)
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
		Digest:    out.digest(),
		Size:      out.size(),
		DiffID:    w.DiffID(),
		Annotations: map[string]string{
			AnnotationTOCDigest:        toc.String(),
			AnnotationUncompressedSize: strconv.FormatInt(gz.uncompressed, 10),
		},
	}, nil
}

// estargzGzip is the estargz.Compressor for our members. It reuses one
// gzip writer (the package closes a member before it opens the next) and
// counts the uncompressed bytes, entries and TOC, for the size annotation.
type estargzGzip struct {
	level        int
	z            *kgzip.Writer
	uncompressed int64
}

func (g *estargzGzip) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
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
func (g *estargzGzip) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	return estargz.NewGzipCompressorWithLevel(g.level).WriteTOCAndFooter(w, off, toc, countingHash{diffHash, &g.uncompressed})
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
