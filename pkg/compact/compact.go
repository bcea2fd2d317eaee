// Package compact writes and replays compact streams: a layer's tar with
// the bytes of its larger files replaced by references to their content
// (sha256 and size) in a content-addressed store, plus how the tar was
// compressed, so the layer blob can be rebuilt bit for bit wherever those
// files can be read: the Bazel output base, the remote cache, a directory.
//
// File layout (all ours, version 1):
//
//	records, zstd-compressed:  'd' uvarint(n) n bytes   tar bytes kept inline
//	                           'r' [32]sha256 uvarint(n) n bytes of a file, by reference
//	                           'e'                      the end
//	trailer:                   the Header as JSON, uint32 LE its length, Magic
//
// The trailer comes last because the layer's digest is known only once the
// tar is written; readers find it from the end.
package compact

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/layer/blob"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Magic ends every compact stream.
const Magic = "IMGCSTR1"

// MinReference is the smallest file kept by reference: smaller files stay
// inline, where a CAS entry would cost more than their bytes.
const MinReference = 64 << 10

// Header says how to rebuild the layer and what the result must be.
type Header struct {
	Version     int               `json:"version"`
	Compression compress.Options  `json:"compression"`
	Layer       oci.LayerMetadata `json:"layer"`
	References  int               `json:"references"`
	Referenced  int64             `json:"referenced_bytes"`
}

// Recorder is the io.Writer a layer's uncompressed tar is written to when
// its blob is kept compact. It follows the tar's structure as the bytes
// pass: headers, padding and small files stay inline, and the content of
// each regular file of MinReference bytes or more becomes a reference. So
// any tar producer works, with no hooks.
type Recorder struct {
	zw     *zstd.Encoder
	out    io.Writer
	casDir string // "": references are not copied anywhere
	inline []byte
	err    error

	block   []byte // the header block being read
	skip    int64  // inline bytes still to pass (small content, padding, extension records)
	pax     []byte // a PAX extended header's records, for a size override
	inPax   bool
	paxSize int64 // the next entry's size from a PAX record, or -1
	left    int64 // bytes of the referenced file still to come
	size    int64
	h       hash.Hash
	tmp     *os.File
	refs    int
	bytes   int64
}

// NewRecorder writes a compact stream to out. With casDir, each referenced
// file is also copied to casDir/sha256/HEX (once), the directory a build
// declares as an output so that the content lands in the remote cache.
func NewRecorder(out io.Writer, casDir string) (*Recorder, error) {
	zw, err := zstd.NewWriter(out, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	if casDir != "" {
		if err := os.MkdirAll(filepath.Join(casDir, "sha256"), 0o755); err != nil {
			return nil, err
		}
	}
	return &Recorder{out: out, zw: zw, casDir: casDir, h: sha256.New(), paxSize: -1}, nil
}

func (r *Recorder) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && r.err == nil {
		switch {
		case r.left > 0:
			k := int(min(int64(len(p)), r.left))
			r.h.Write(p[:k])
			if r.tmp != nil {
				if _, err := r.tmp.Write(p[:k]); err != nil {
					r.err = err
				}
			}
			r.left -= int64(k)
			p = p[k:]
			if r.left == 0 {
				r.endFile()
				r.skip = pad(r.size)
			}
		case r.skip > 0:
			k := int(min(int64(len(p)), r.skip))
			if r.inPax {
				r.pax = append(r.pax, p[:k]...)
			}
			r.addInline(p[:k])
			r.skip -= int64(k)
			p = p[k:]
			if r.skip == 0 && r.inPax {
				r.inPax = false
				r.paxSize = paxSize(r.pax, r.paxSize)
			}
		default:
			k := min(len(p), 512-len(r.block))
			r.block = append(r.block, p[:k]...)
			r.addInline(p[:k])
			p = p[k:]
			if len(r.block) == 512 {
				r.header()
				r.block = r.block[:0]
			}
		}
	}
	if r.err != nil {
		return 0, r.err
	}
	return n, nil
}

func pad(n int64) int64 { return (512 - n%512) % 512 }

// header reads a complete header block and sets what follows it.
func (r *Recorder) header() {
	b := r.block
	if bytes.Count(b, []byte{0}) == 512 {
		return // an end-of-archive block
	}
	size, ok := octal(b[124:136])
	if !ok {
		r.err = errors.New("compact: a tar header with an unreadable size")
		return
	}
	typ := b[156]
	if r.paxSize >= 0 && typ != 'x' && typ != 'g' {
		size, r.paxSize = r.paxSize, -1
	}
	switch typ {
	case '0', 0, '7':
		if size >= MinReference {
			r.beginFile(size)
			return
		}
		r.skip = size + pad(size)
	case 'x':
		r.inPax, r.pax = true, r.pax[:0]
		r.skip = size + pad(size)
	default:
		// Directories, links, global headers, long names: any content is
		// metadata, kept inline.
		r.skip = size + pad(size)
	}
}

// octal reads a tar number field: octal text, or base-256 with the high bit.
func octal(f []byte) (int64, bool) {
	if f[0]&0x80 != 0 {
		var n int64
		for i, c := range f {
			if i == 0 {
				c &= 0x7f
			}
			n = n<<8 | int64(c)
		}
		return n, true
	}
	f = bytes.Trim(f, " \x00")
	var n int64
	for _, c := range f {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n<<3 | int64(c-'0')
	}
	return n, true
}

// paxSize finds a "size" record ("LEN size=N\n") in PAX records.
func paxSize(recs []byte, def int64) int64 {
	for len(recs) > 0 {
		sp := bytes.IndexByte(recs, ' ')
		if sp <= 0 {
			return def
		}
		var n int
		for _, c := range recs[:sp] {
			if c < '0' || c > '9' {
				return def
			}
			n = n*10 + int(c-'0')
		}
		if n <= sp || n > len(recs) {
			return def
		}
		rec := recs[sp+1 : n-1]
		if v, ok := bytes.CutPrefix(rec, []byte("size=")); ok {
			var size int64
			for _, c := range v {
				if c < '0' || c > '9' {
					return def
				}
				size = size*10 + int64(c-'0')
			}
			return size
		}
		recs = recs[n:]
	}
	return def
}

func (r *Recorder) addInline(p []byte) {
	r.inline = append(r.inline, p...)
	if len(r.inline) >= 1<<20 {
		r.flushInline()
	}
}

func (r *Recorder) beginFile(size int64) {
	r.flushInline()
	r.left, r.size = size, size
	r.h.Reset()
	if r.casDir != "" {
		r.tmp, r.err = os.CreateTemp(filepath.Join(r.casDir, "sha256"), ".partial-*")
	}
}

func (r *Recorder) flushInline() {
	if len(r.inline) == 0 || r.err != nil {
		return
	}
	var rec []byte
	rec = append(rec, 'd')
	rec = binary.AppendUvarint(rec, uint64(len(r.inline)))
	if _, err := r.zw.Write(rec); err != nil {
		r.err = err
		return
	}
	if _, err := r.zw.Write(r.inline); err != nil {
		r.err = err
	}
	r.inline = r.inline[:0]
}

func (r *Recorder) endFile() {
	sum := r.h.Sum(nil)
	rec := append([]byte{'r'}, sum...)
	rec = binary.AppendUvarint(rec, uint64(r.size))
	if _, err := r.zw.Write(rec); err != nil {
		r.err = err
		return
	}
	r.refs++
	r.bytes += r.size
	if r.tmp != nil {
		name := r.tmp.Name()
		err := r.tmp.Close()
		r.tmp = nil
		dst := filepath.Join(r.casDir, "sha256", hex.EncodeToString(sum))
		if err == nil {
			err = os.Chmod(name, 0o644)
		}
		if err == nil {
			// The same content twice is one entry.
			if _, statErr := os.Stat(dst); statErr == nil {
				err = os.Remove(name)
			} else {
				err = os.Rename(name, dst)
			}
		}
		if err != nil {
			r.err = err
		}
	}
}

// Close ends the stream with the header of the layer the tar became.
func (r *Recorder) Close(c compress.Options, layer oci.LayerMetadata) error {
	if r.err == nil && r.left != 0 {
		r.err = fmt.Errorf("compact: the tar ended %d bytes into a file", r.size-r.left)
	}
	if r.err == nil && (len(r.block) != 0 || r.skip != 0) {
		r.err = errors.New("compact: the tar ended inside an entry")
	}
	r.flushInline()
	if r.tmp != nil {
		r.tmp.Close()
		os.Remove(r.tmp.Name())
	}
	if r.err != nil {
		r.zw.Close()
		return r.err
	}
	if _, err := r.zw.Write([]byte{'e'}); err != nil {
		return err
	}
	if err := r.zw.Close(); err != nil {
		return err
	}
	// The bytes depend only on whether compression ran in parallel, never
	// on how many workers the machine gave it: record 1 or 2, so the stream
	// is the same on every machine.
	c.Jobs = min(max(c.Jobs, 1), 2)
	h, err := json.Marshal(Header{Version: 1, Compression: c, Layer: layer, References: r.refs, Referenced: r.bytes})
	if err != nil {
		return err
	}
	h = binary.LittleEndian.AppendUint32(h, uint32(len(h)))
	_, err = r.out.Write(append(h, Magic...))
	return err
}

// ReadHeader reads a compact stream's trailer; it also returns where the
// records end.
func ReadHeader(s io.ReaderAt, size int64) (Header, int64, error) {
	var h Header
	tail := int64(4 + len(Magic))
	if size < tail {
		return h, 0, errors.New("not a compact stream: too short")
	}
	b := make([]byte, tail)
	if _, err := s.ReadAt(b, size-tail); err != nil {
		return h, 0, err
	}
	if string(b[4:]) != Magic {
		return h, 0, errors.New("not a compact stream: no magic at the end")
	}
	n := int64(binary.LittleEndian.Uint32(b[:4]))
	if n > size-tail {
		return h, 0, errors.New("not a compact stream: header length out of range")
	}
	hb := make([]byte, n)
	if _, err := s.ReadAt(hb, size-tail-n); err != nil {
		return h, 0, err
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, 0, fmt.Errorf("compact stream header: %w", err)
	}
	if h.Version != 1 {
		return h, 0, fmt.Errorf("compact stream version %d: this img reads version 1", h.Version)
	}
	return h, size - tail - n, nil
}

// Opener reads a referenced file's content by its digest ("sha256:HEX").
type Opener func(digest string, size int64) (io.ReadCloser, error)

// replay writes the tar the records (a stream without its trailer)
// describe to w, reading references with open and checking each one's
// digest.
func replay(records io.Reader, open Opener, w io.Writer) error {
	zr, err := zstd.NewReader(records, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	br := bufio.NewReader(zr)
	for {
		kind, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("compact stream: %w", unexpected(err))
		}
		switch kind {
		case 'e':
			return nil
		case 'd':
			n, err := binary.ReadUvarint(br)
			if err != nil {
				return fmt.Errorf("compact stream: %w", unexpected(err))
			}
			if _, err := io.CopyN(w, br, int64(n)); err != nil {
				return fmt.Errorf("compact stream: %w", unexpected(err))
			}
		case 'r':
			var sum [32]byte
			if _, err := io.ReadFull(br, sum[:]); err != nil {
				return fmt.Errorf("compact stream: %w", unexpected(err))
			}
			n, err := binary.ReadUvarint(br)
			if err != nil {
				return fmt.Errorf("compact stream: %w", unexpected(err))
			}
			if err := copyReference(w, open, "sha256:"+hex.EncodeToString(sum[:]), int64(n)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("compact stream: unknown record %q", kind)
		}
	}
}

func copyReference(w io.Writer, open Opener, digest string, n int64) error {
	rc, err := open(digest, n)
	if err != nil {
		return fmt.Errorf("file %s (%d bytes) of the layer: %w", digest, n, err)
	}
	defer rc.Close()
	h := sha256.New()
	got, err := io.CopyN(io.MultiWriter(w, h), rc, n)
	if err != nil {
		return fmt.Errorf("file %s of the layer: %d of %d bytes: %w", digest, got, n, unexpected(err))
	}
	if d := "sha256:" + hex.EncodeToString(h.Sum(nil)); d != digest {
		return fmt.Errorf("file %s of the layer: its bytes hash to %s", digest, d)
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// DirOpener opens references in a directory the Recorder filled.
func DirOpener(dir string) Opener {
	return func(digest string, size int64) (io.ReadCloser, error) {
		hexDigest, ok := strings.CutPrefix(digest, "sha256:")
		if !ok {
			return nil, fmt.Errorf("digest %q is not sha256", digest)
		}
		return os.Open(filepath.Join(dir, "sha256", hexDigest))
	}
}

// Rebuild writes the layer blob a compact stream stands for to out and
// checks that it is the layer the stream recorded, byte for byte.
func Rebuild(s io.ReaderAt, size int64, open Opener, out io.Writer) (oci.LayerMetadata, error) {
	h, records, err := ReadHeader(s, size)
	if err != nil {
		return oci.LayerMetadata{}, err
	}
	got, err := blob.Write(out, h.Compression, func(tar io.Writer) error {
		return replay(io.NewSectionReader(s, 0, records), open, tar)
	})
	if err != nil {
		return got, err
	}
	if got.Digest != h.Layer.Digest || got.Size != h.Layer.Size || got.DiffID != h.Layer.DiffID {
		return got, fmt.Errorf("the rebuilt layer is %s (%d bytes), not the recorded %s (%d bytes): the compression is not reproducible here",
			got.Digest, got.Size, h.Layer.Digest, h.Layer.Size)
	}
	return h.Layer, nil
}
