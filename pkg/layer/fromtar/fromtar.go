// Package fromtar turns an existing tar (plain or compressed) into a layer:
// every entry is checked as it streams past, names are made canonical, and
// the bytes are recompressed, kept, or written as eStargz.
package fromtar

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/layer/blob"
	"github.com/rules-img/rules_img/pkg/layer/estargz"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Auto, as FromTar's algorithm, keeps the input's compression and bytes.
const Auto = "auto"

// errRename stops an Auto pass whose tar has a name to canonicalise: the
// input bytes cannot be kept, so FromTar starts over and rewrites.
var errRename = errors.New("tar has names to canonicalise")

// FromTar turns an existing tar (plain, gzip or zstd, sniffed from its first
// bytes) into a layer blob, checking every entry against rules in the pass
// that reads it. Names are canonicalised ("./a" and "/a" become "a"); the
// rest of each header and all data are kept byte for byte.
//
// With c.Algorithm == Auto the input bytes are copied to blob unchanged. A tar
// with names to canonicalise cannot be kept: if in can seek and blob can be
// truncated (files) or reset (buffers), FromTar starts over and recompresses
// with the input's own algorithm; otherwise it fails. Any other algorithm
// decompresses and recompresses in one streaming pass.
func FromTar(in io.Reader, dst io.Writer, c compress.Options, rules TarRules) (oci.LayerMetadata, error) {
	br := bufio.NewReaderSize(in, 1<<20)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return oci.LayerMetadata{}, err
	}
	detected := compress.Detect(head)

	if c.Algorithm != Auto {
		if err := c.Validate(); err != nil {
			return oci.LayerMetadata{}, fmt.Errorf("%w (or auto, to keep the input as is)", err)
		}
		return blob.Write(dst, c, func(w io.Writer) error {
			return readTar(br, detected, w, rules, true)
		})
	}

	m, err := keepBytes(br, detected, dst, rules)
	if !errors.Is(err, errRename) {
		return m, err
	}
	if err := rewind(in, dst); err != nil {
		return oci.LayerMetadata{}, fmt.Errorf(`the tar has names to canonicalise ("./a" or "/a"), so compress = "auto" cannot keep its bytes, and %v: set compress to gzip, zstd or none`, err)
	}
	c.Algorithm = detected
	return FromTar(in, dst, c, rules)
}

// FromTarEStargz is FromTar writing an eStargz layer (gzip only; Auto is
// gzip here): the no-prefetch landmark, then the tar's entries in their order.
// A tar that is eStargz already (an optimized image's layer) loses its
// landmarks and TOC, which the new layer replaces.
func FromTarEStargz(in io.Reader, dst io.Writer, c compress.Options, rules TarRules) (oci.LayerMetadata, error) {
	if c.Algorithm == Auto {
		c.Algorithm = compress.Gzip
	}
	br := bufio.NewReaderSize(in, 1<<20)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return oci.LayerMetadata{}, err
	}
	detected := compress.Detect(head)
	return estargz.Write(dst, c, estargz.LandmarkTar(), estargz.WithoutEntries(func(w io.Writer) error {
		return readTar(br, detected, w, rules, true)
	}))
}

// keepBytes copies the input to blob as is while reading it as a tar.
func keepBytes(br *bufio.Reader, detected string, dst io.Writer, rules TarRules) (oci.LayerMetadata, error) {
	out := blob.NewDigester()
	bw := bufio.NewWriterSize(io.MultiWriter(dst, out), 1<<20)
	diff := blob.NewDigester()
	raw := io.TeeReader(br, bw)
	if err := readTar(raw, detected, diff, rules, false); err != nil {
		return oci.LayerMetadata{}, err
	}
	// Bytes after the compressed stream (if the decoder left any) are part of
	// the blob as stored.
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return oci.LayerMetadata{}, err
	}
	if err := bw.Flush(); err != nil {
		return oci.LayerMetadata{}, err
	}
	return oci.LayerMetadata{
		MediaType: compress.MediaType(detected),
		Digest:    out.Digest(),
		Size:      out.Size(),
		DiffID:    diff.Digest(),
	}, nil
}

func rewind(in io.Reader, dst io.Writer) error {
	s, ok := in.(io.Seeker)
	if !ok {
		return errors.New("the input cannot be read twice")
	}
	switch b := dst.(type) {
	case interface {
		Truncate(int64) error
		io.Seeker
	}:
		if err := b.Truncate(0); err != nil {
			return err
		}
		if _, err := b.Seek(0, io.SeekStart); err != nil {
			return err
		}
	case interface{ Reset() }:
		b.Reset()
	default:
		return errors.New("the blob cannot be started over")
	}
	_, err := s.Seek(0, io.SeekStart)
	return err
}

// readTar decompresses r, checks every entry, and writes the tar to tarOut:
// every decompressed byte, including padding after the end-of-archive
// marker, except that headers whose names are not canonical are written
// anew (rename) or stop the pass with errRename (!rename).
func readTar(r io.Reader, algorithm string, tarOut io.Writer, rules TarRules, rename bool) error {
	dec, err := compress.NewReader(r, algorithm)
	if err != nil {
		return fmt.Errorf("input is not a valid %s stream: %w", algorithm, err)
	}
	defer dec.Close()
	rec := &splicer{r: dec, out: tarOut, holdAt: -1}
	tr := tar.NewReader(rec)
	check := newTarChecker(rules)
	notTar := func(err error) error {
		if rec.werr != nil {
			return rec.werr
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && algorithm != compress.None {
			return fmt.Errorf("input is not a tar (%s, cut short): %w: rebuild the file; it may be truncated", algorithm, err)
		}
		return fmt.Errorf("input is not a tar (%s): %w: src must be a tar archive, uncompressed or in gzip or zstd", describe(algorithm), err)
	}
	for {
		// The previous entry's data passes through; its padding and this
		// entry's header blocks are held until the header is checked.
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return notTar(err)
		}
		rec.hold((rec.off + blockSize - 1) / blockSize * blockSize)
		h, err := tr.Next()
		held := rec.release()
		if errors.Is(err, io.EOF) {
			if err := rec.write(held); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return notTar(err)
		}
		name, link, drop, err := check.check(h)
		if err != nil {
			return err
		}
		if !drop && name == h.Name && link == h.Linkname {
			if err := rec.write(held); err != nil {
				return err
			}
			continue
		}
		if !rename {
			return errRename
		}
		if drop {
			if h.Size != 0 {
				return &EntryError{h.Name, "names the layer root but carries data", fixTraversal}
			}
			continue
		}
		hdr, err := renamed(h, name, link)
		if err != nil {
			return err
		}
		if err := rec.write(hdr); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, rec); err != nil {
		return fmt.Errorf("reading %s input after the tar: %w", algorithm, err)
	}
	if rec.off == 0 {
		return errors.New("input is empty: src must be a tar archive, which holds at least its end-of-archive marker")
	}
	return nil
}

const blockSize = 512

func describe(algorithm string) string {
	if algorithm == compress.None {
		return "not compressed"
	}
	return algorithm
}

// renamed serialises h's header blocks with a new name and link name. The
// entry's data, which follows in the input, is unchanged.
func renamed(h *tar.Header, name, link string) ([]byte, error) {
	if isSparse(h) {
		return nil, &EntryError{h.Name, "is a sparse file whose name is not canonical, which this tool cannot rewrite", `rebuild the tar with the name "` + name + `"`}
	}
	n := *h
	n.Name, n.Linkname = name, link
	if h.PAXRecords != nil {
		n.PAXRecords = map[string]string{}
		for k, v := range h.PAXRecords {
			if k != "path" && k != "linkpath" {
				n.PAXRecords[k] = v
			}
		}
	}
	var b bytes.Buffer
	if err := tar.NewWriter(&b).WriteHeader(&n); err != nil {
		// Formats other than the input's (GNU for a long name in USTAR).
		n.Format = tar.FormatUnknown
		b.Reset()
		if err := tar.NewWriter(&b).WriteHeader(&n); err != nil {
			return nil, &EntryError{h.Name, "cannot be written with its canonical name: " + err.Error(), `rebuild the tar with the name "` + name + `"`}
		}
	}
	return b.Bytes(), nil
}

// splicer is the reader under archive/tar: bytes pass through to out as
// they are read, except those from offset holdAt on, which are held until
// release, so a header can be replaced before it is written.
type splicer struct {
	r      io.Reader
	out    io.Writer
	off    int64
	holdAt int64
	held   []byte
	werr   error
}

func (s *splicer) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	chunk := p[:n]
	if s.holdAt >= 0 {
		if pass := s.holdAt - s.off; pass > 0 {
			k := int(min(pass, int64(n)))
			if werr := s.write(chunk[:k]); werr != nil {
				return 0, werr
			}
			chunk = chunk[k:]
		}
		s.held = append(s.held, chunk...)
	} else if werr := s.write(chunk); werr != nil {
		return 0, werr
	}
	s.off += int64(n)
	return n, err
}

// hold starts holding at offset at: the start of the next header block.
// archive/tar reads the padding before it as part of Next, so up to then
// bytes still pass through.
func (s *splicer) hold(at int64) {
	s.holdAt, s.held = at, s.held[:0]
}

func (s *splicer) release() []byte {
	h := s.held
	s.holdAt = -1
	return h
}

func (s *splicer) write(b []byte) error {
	if s.werr != nil {
		return s.werr
	}
	if len(b) > 0 {
		_, s.werr = s.out.Write(b)
	}
	return s.werr
}
