package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
)

// prefixLen is how much of a file the deduper reads before it decides
// whether the file may repeat an earlier one.
const prefixLen = 64 << 10

// openFile opens source files; tests count the opens.
var openFile = os.Open

// deduper turns later copies of identical regular files into hardlinks to
// the first copy in tar order, while the tar is written, so that each file is
// read once. Only files whose size another entry shares are considered, and
// only files with identical attrs are merged (a hardlink shares its target's
// mode and owner).
//
// A file whose size and first 64 KiB match no file written before is written
// at once from the prefix it read. One whose prefix matches is hashed to its
// end first: a duplicate becomes a hardlink (read once); a file that differs
// only after its first 64 KiB is read a second time to be written, the one
// case in which a file that is no duplicate is read twice.
//
// Its maps hold fixed-size keys: they live beside the compressor's buffers
// while the layer is written, and string keys for ~20,000 files added 10-20
// MiB to the peak RSS.
type deduper struct {
	bySize   map[int64]int
	left     map[int64]int       // entries of a size not written yet
	srcs     map[string]int      // entries per source file
	prefixes map[dedupKey]bool   // size, prefix hash and attrs of written files
	first    map[dedupKey]string // size, content hash and attrs -> name
	bySrc    map[string][]byte   // source at several paths -> content hash
	buf      []byte
	// Reused for every file: per-file garbage lets the heap grow to twice
	// the compressor's buffers (64 KiB per file cost 50 MiB of RSS).
	prefix []byte
	hash   hash.Hash
	sum    []byte
	keyBuf []byte
}

func newDeduper(items []*item, buf []byte) *deduper {
	d := &deduper{bySize: map[int64]int{}, left: map[int64]int{}, srcs: map[string]int{}, prefixes: map[dedupKey]bool{}, first: map[dedupKey]string{},
		bySrc: map[string][]byte{}, buf: buf, prefix: make([]byte, prefixLen), hash: sha256.New()}
	for _, it := range items {
		if it.kind == tar.TypeReg && it.size > 0 {
			d.bySize[it.size]++
			d.left[it.size]++
			d.srcs[it.src]++
		}
	}
	return d
}

// dedupKey is a SHA-256 of a file's size, a hash of its content (or prefix)
// and its attrs.
type dedupKey [sha256.Size]byte

func (d *deduper) remember(src string, full []byte) {
	if d.srcs[src] > 1 {
		d.bySrc[src] = bytes.Clone(full)
	}
}

// contentHash finishes d.hash; the result is valid until the next call.
func (d *deduper) contentHash() []byte {
	d.sum = d.hash.Sum(d.sum[:0])
	return d.sum
}

// candidate reports whether it may repeat another entry.
func (d *deduper) candidate(it *item) bool {
	return it.kind == tar.TypeReg && it.size > 0 && d.bySize[it.size] > 1
}

// write writes the entry for it, a regular file with a size another entry
// shares: a hardlink, or the header and the content.
func (d *deduper) write(tw *tar.Writer, hdr *tar.Header, it *item) error {
	d.left[it.size]--
	// Only a file that a later entry could repeat needs its content hash.
	later := d.left[it.size] > 0
	attrs := it.attrs.key()
	key := func(h []byte) dedupKey {
		b := strconv.AppendInt(d.keyBuf[:0], it.size, 10)
		b = append(append(append(append(b, 0), h...), 0), attrs...)
		d.keyBuf = b
		return sha256.Sum256(b)
	}

	// The same source at another path: its hash is known, nothing to read.
	if h, ok := d.bySrc[it.src]; ok {
		if target, ok := d.first[key(h)]; ok {
			return writeLink(tw, hdr, target)
		}
	}

	f, err := openFile(it.src)
	if err != nil {
		return err
	}
	defer f.Close()
	prefix := d.prefix[:min(it.size, prefixLen)]
	if _, err := io.ReadFull(f, prefix); err != nil {
		return changedSize(err)
	}
	ph := sha256.Sum256(prefix)
	pkey := key(ph[:])

	if !d.prefixes[pkey] {
		// Nothing written so far can equal it: write it now, hashing the
		// content for the files after it.
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !later {
			_, err := tw.Write(prefix)
			if err == nil {
				err = copyRest(tw, f, it.size-int64(len(prefix)), d.buf)
			}
			return err
		}
		d.hash.Reset()
		w := io.MultiWriter(tw, d.hash)
		if _, err := w.Write(prefix); err != nil {
			return err
		}
		if err := copyRest(w, f, it.size-int64(len(prefix)), d.buf); err != nil {
			return err
		}
		full := d.contentHash()
		d.remember(it.src, full)
		d.record(it, pkey, key(full))
		return nil
	}

	d.hash.Reset()
	d.hash.Write(prefix)
	if err := copyRest(d.hash, f, it.size-int64(len(prefix)), d.buf); err != nil {
		return err
	}
	full := d.contentHash()
	d.remember(it.src, full)
	if target, ok := d.first[key(full)]; ok {
		return writeLink(tw, hdr, target)
	}
	// Same size and prefix, other content: read it again to write it.
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if int64(len(prefix)) == it.size {
		_, err = tw.Write(prefix)
	} else {
		err = copyFile(tw, it, d.buf)
	}
	if err != nil {
		return err
	}
	d.record(it, pkey, key(full))
	return nil
}

func (d *deduper) record(it *item, pkey, key dedupKey) {
	d.prefixes[pkey] = true
	if _, ok := d.first[key]; !ok {
		d.first[key] = it.name
	}
}

func writeLink(tw *tar.Writer, hdr *tar.Header, target string) error {
	link := *hdr
	link.Typeflag, link.Linkname, link.Size = tar.TypeLink, target, 0
	return tw.WriteHeader(&link)
}

// copyRest copies exactly n more bytes of f and checks that f ends there.
func copyRest(w io.Writer, f *os.File, n int64, buf []byte) error {
	m, err := io.CopyBuffer(w, io.LimitReader(f, n), buf)
	if err != nil {
		return err
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); m != n || k != 0 {
		return errChangedSize
	}
	return nil
}

var errChangedSize = fmt.Errorf("file changed size while the layer was written")

func changedSize(err error) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return errChangedSize
	}
	return err
}
