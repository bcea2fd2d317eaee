package layer

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// prefixLen is how much of a file the deduper reads before it decides
// whether the file may repeat an earlier one.
const prefixLen = 64 << 10

// openFile opens source files; tests count the opens.
var openFile = openSource

// deduper turns later copies of identical regular files into hardlinks to
// the first copy in tar order, while the tar is written. Only files whose
// size another entry shares are considered, and only files with identical
// attrs are merged (a hardlink shares its target's mode and owner).
//
// Every candidate's first 64 KiB are read and hashed; for a file of at most
// 64 KiB that is its whole content, so small files are matched without
// another read. A larger file whose size and first 64 KiB match no earlier
// file is written at once, and its content is not hashed: in a real tree
// most files of a shared size differ early (bench/layer: 70% of the tree
// shares a size with another file, hashing it cost 0.4 s of CPU per GiB).
// Only when a later file matches that prefix are both hashed to their ends:
// the earlier file is read a second time, and the later one too if it turns
// out to differ after the prefix. So a file is read twice only as one of a
// pair with the same size and first 64 KiB, which is nearly always a real
// duplicate.
//
// The maps hold fixed-size keys: they live beside the compressor's buffers
// while the layer is written, and string keys for ~20,000 files added 10-20
// MiB to the peak RSS.
type deduper struct {
	bySize map[int64]int
	left   map[int64]int  // entries of a size not written yet
	srcs   map[string]int // entries per source file
	// Written large files by size, prefix hash and attrs. The first one of
	// a key stays pending until a later file with the same key has it
	// hashed; from then on each file of that key is hashed as it comes.
	prefixes map[dedupKey]pending
	first    map[dedupKey]string // size, content hash and attrs -> name
	bySrc    map[dedupKey]string // source and attrs at several paths -> the name it became
	buf      []byte
	// Reused for every file: per-file garbage lets the heap grow to twice
	// the compressor's buffers (64 KiB per file cost 50 MiB of RSS).
	prefix []byte
	hash   hash.Hash
	sum    []byte
	keyBuf []byte
}

// pending is a written file whose content hash is not known yet (or
// nothing, once it is).
type pending struct{ name, src string }

func newDeduper(items []*item, buf []byte) *deduper {
	d := &deduper{bySize: map[int64]int{}, left: map[int64]int{}, srcs: map[string]int{}, prefixes: map[dedupKey]pending{},
		first: map[dedupKey]string{}, bySrc: map[dedupKey]string{}, buf: buf, prefix: make([]byte, prefixLen), hash: sha256.New()}
	for _, it := range items {
		if it.kind == tar.TypeReg && it.size > 0 && it.data == nil {
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

// candidate reports whether it may repeat another entry.
func (d *deduper) candidate(it *item) bool {
	return it.kind == tar.TypeReg && it.size > 0 && it.data == nil && d.bySize[it.size] > 1
}

// key combines size, a content or prefix hash and attrs.
func (d *deduper) key(size int64, h []byte, attrs string) dedupKey {
	b := strconv.AppendInt(d.keyBuf[:0], size, 10)
	b = append(append(append(append(b, 0), h...), 0), attrs...)
	d.keyBuf = b
	return sha256.Sum256(b)
}

// write writes the entry for it, a regular file with a size another entry
// shares: a hardlink, or the header and the content. content is the file's
// bytes if they were read ahead, or nil.
func (d *deduper) write(tw *tar.Writer, hdr *tar.Header, it *item, content []byte) error {
	d.left[it.size]--
	// Only a file that a later entry could repeat needs to be remembered.
	later := d.left[it.size] > 0
	attrs := it.attrs.key()

	// The same source at another path with the same attrs: nothing to read.
	var srcKey dedupKey
	atSeveral := d.srcs[it.src] > 1
	if atSeveral {
		srcKey = d.key(0, []byte(it.src), attrs)
		if target, ok := d.bySrc[srcKey]; ok {
			return writeLink(tw, hdr, target)
		}
	}
	became, err := d.writeFile(tw, hdr, it, attrs, later, content)
	if err == nil && atSeveral {
		d.bySrc[srcKey] = became
	}
	return err
}

// writeFile writes it as a link or as a file and returns the name its
// content now has in the tar. content is the file's bytes if they were read
// ahead (small files), or nil.
func (d *deduper) writeFile(tw *tar.Writer, hdr *tar.Header, it *item, attrs string, later bool, content []byte) (string, error) {
	if it.size <= prefixLen {
		// The prefix is the whole content.
		if content == nil {
			content = d.prefix[:it.size]
			if err := readFile(it.src, content); err != nil {
				return "", err
			}
		}
		h := sha256.Sum256(content)
		key := d.key(it.size, h[:], attrs)
		if target, ok := d.first[key]; ok {
			return target, writeLink(tw, hdr, target)
		}
		if later {
			d.first[key] = it.name
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		_, err := tw.Write(content)
		return it.name, err
	}

	f, err := openFile(it.src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	prefix := d.prefix[:prefixLen]
	if _, err := io.ReadFull(f, prefix); err != nil {
		return "", changedSize(err)
	}
	ph := sha256.Sum256(prefix)
	pkey := d.key(it.size, ph[:], attrs)

	earlier, seen := d.prefixes[pkey]
	if !seen {
		// Nothing written so far can equal it: write it now.
		if later {
			d.prefixes[pkey] = pending{it.name, it.src}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(prefix); err != nil {
			return "", err
		}
		return it.name, copyRest(tw, f, it.size-int64(len(prefix)), d.buf)
	}

	// Same size and prefix as an earlier file: compare whole contents.
	if earlier.name != "" {
		h, err := d.hashFile(earlier.src, it.size)
		if err != nil {
			return "", fmt.Errorf("%s (read again to compare with %s): %w", earlier.src, it.origin, err)
		}
		d.first[d.key(it.size, h, attrs)] = earlier.name
		d.prefixes[pkey] = pending{}
	}
	d.hash.Reset()
	d.hash.Write(prefix)
	if err := copyRest(d.hash, f, it.size-int64(len(prefix)), d.buf); err != nil {
		return "", err
	}
	key := d.key(it.size, d.contentHash(), attrs)
	if target, ok := d.first[key]; ok {
		return target, writeLink(tw, hdr, target)
	}
	// Same size and prefix, other content: read it again to write it.
	if err := tw.WriteHeader(hdr); err != nil {
		return "", err
	}
	if err := copyFile(tw, it, d.buf); err != nil {
		return "", err
	}
	d.first[key] = it.name
	return it.name, nil
}

// hashFile hashes a file of the given size; the result is valid until the
// next hash.
func (d *deduper) hashFile(src string, size int64) ([]byte, error) {
	f, err := openFile(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d.hash.Reset()
	if err := copyRest(d.hash, f, size, d.buf); err != nil {
		return nil, err
	}
	return d.contentHash(), nil
}

// contentHash finishes d.hash; the result is valid until the next call.
func (d *deduper) contentHash() []byte {
	d.sum = d.hash.Sum(d.sum[:0])
	return d.sum
}

func writeLink(tw *tar.Writer, hdr *tar.Header, target string) error {
	link := *hdr
	link.Typeflag, link.Linkname, link.Size = tar.TypeLink, target, 0
	return tw.WriteHeader(&link)
}

// readFile reads a file of exactly len(b) bytes into b.
func readFile(src string, b []byte) error {
	f, err := openFile(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err != nil {
		return changedSize(err)
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); k != 0 {
		return errChangedSize
	}
	return nil
}

// copyRest copies exactly n more bytes of f and checks that f ends there.
func copyRest(w io.Writer, f io.Reader, n int64, buf []byte) error {
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
