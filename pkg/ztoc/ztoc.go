// Package ztoc writes soci-snapshotter's ztoc for a gzip layer: the tar's
// table of contents with each file's uncompressed offset, and checkpoints
// from which a span of the compressed blob decodes on its own, so that a
// runtime can fetch and unpack one file without the rest of the layer.
//
// The format is soci's (a flatbuffer, ztoc version 0.9, zinfo version 2);
// the generator is pure Go, so img needs no cgo or zlib.
package ztoc

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	flatbuffers "github.com/google/flatbuffers/go"
)

// Version is the ztoc format version this package writes.
const Version = "0.9"

// Tool is the build_tool_identifier img writes.
const Tool = "rules_img"

// DefaultSpan is soci-snapshotter's span: uncompressed bytes between
// checkpoints.
const DefaultSpan = 4 << 20

// file is one tar entry of the table of contents.
type file struct {
	hdr    *tar.Header
	offset int64 // of its data in the uncompressed tar
}

// Build reads a gzip-compressed tar of size bytes and returns its ztoc.
// tool names the builder in the ztoc (build_tool_identifier).
func Build(blob io.ReaderAt, size, span int64, tool string) ([]byte, error) {
	if span <= 0 {
		return nil, fmt.Errorf("span %d: must be positive", span)
	}
	pr, pw := io.Pipe()
	type tocResult struct {
		files []file
		size  int64
		err   error
	}
	done := make(chan tocResult, 1)
	go func() {
		files, n, err := readTOC(pr)
		// Drain what the tar reader leaves (padding after the end marker)
		// so the decoder never blocks.
		io.Copy(io.Discard, pr)
		pr.CloseWithError(err)
		done <- tocResult{files, n, err}
	}()
	points, read, err := gzipCheckpoints(io.NewSectionReader(blob, 0, size), pw, span)
	pw.CloseWithError(err)
	toc := <-done
	if err != nil {
		return nil, fmt.Errorf("decompressing the layer: %w", err)
	}
	if toc.err != nil {
		return nil, fmt.Errorf("reading the layer's tar: %w", toc.err)
	}
	if read != size {
		return nil, fmt.Errorf("the layer has %d bytes after its gzip stream", size-read)
	}
	digests := make([]string, len(points))
	for i, p := range points {
		start := p.in
		if p.bits != 0 {
			start--
		}
		end := size
		if i+1 < len(points) {
			end = points[i+1].in
		}
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(blob, start, end-start)); err != nil {
			return nil, err
		}
		digests[i] = fmt.Sprintf("sha256:%x", h.Sum(nil))
	}
	return marshal(tool, size, toc.size, toc.files, len(points)-1, digests, zinfoBlob(points, span)), nil
}

// readTOC lists the tar's entries with the offsets of their data, and the
// number of bytes the tar reader took (through the end marker), as soci's
// own builder counts them.
func readTOC(r io.Reader) ([]file, int64, error) {
	c := &counter{r: r}
	tr := tar.NewReader(c)
	var files []file
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, c.n, nil
		}
		if err != nil {
			return nil, 0, err
		}
		if _, ok := fileType(hdr.Typeflag); !ok {
			return nil, 0, fmt.Errorf("entry %q has tar type %q, which a ztoc cannot describe", hdr.Name, hdr.Typeflag)
		}
		files = append(files, file{hdr: hdr, offset: c.n})
	}
}

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func fileType(t byte) (string, bool) {
	switch t {
	case tar.TypeReg:
		return "reg", true
	case tar.TypeLink:
		return "hardlink", true
	case tar.TypeSymlink:
		return "symlink", true
	case tar.TypeDir:
		return "dir", true
	case tar.TypeChar:
		return "char", true
	case tar.TypeBlock:
		return "block", true
	case tar.TypeFifo:
		return "fifo", true
	}
	return "", false
}

// Field slots of the flatbuffer tables, in the schema's order.
const (
	ztocVersion = iota
	ztocTool
	ztocCompressedSize
	ztocUncompressedSize
	ztocTOC
	ztocCompression
	ztocFields
)

const (
	fmName = iota
	fmType
	fmOffset
	fmSize
	fmLinkname
	fmMode
	fmUID
	fmGID
	fmUname
	fmGname
	fmModTime
	fmDevmajor
	fmDevminor
	fmXattrs
	fmFields
)

const (
	ciAlgorithm = iota
	ciMaxSpan
	ciSpanDigests
	ciCheckpoints
	ciFields
)

func marshal(tool string, compressed, uncompressed int64, files []file, maxSpan int, digests []string, checkpoints []byte) []byte {
	b := flatbuffers.NewBuilder(len(checkpoints) + 1024)
	tables := func(offsets []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		b.StartVector(4, len(offsets), 4)
		for i := len(offsets) - 1; i >= 0; i-- {
			b.PrependUOffsetT(offsets[i])
		}
		return b.EndVector(len(offsets))
	}
	version := b.CreateString(Version)
	toolName := b.CreateString(tool)

	entries := make([]flatbuffers.UOffsetT, len(files))
	for i := len(files) - 1; i >= 0; i-- {
		entries[i] = fileMetadata(b, files[i], tables)
	}
	metadata := tables(entries)
	b.StartObject(1)
	b.PrependUOffsetTSlot(0, metadata, 0)
	toc := b.EndObject()

	points := b.CreateByteVector(checkpoints)
	names := make([]flatbuffers.UOffsetT, len(digests))
	for i, d := range digests {
		names[i] = b.CreateString(d)
	}
	spans := tables(names)
	b.StartObject(ciFields)
	b.PrependInt32Slot(ciMaxSpan, int32(maxSpan), 0)
	b.PrependUOffsetTSlot(ciSpanDigests, spans, 0)
	b.PrependUOffsetTSlot(ciCheckpoints, points, 0)
	b.PrependByteSlot(ciAlgorithm, 1, 1) // gzip, the default
	compression := b.EndObject()

	b.StartObject(ztocFields)
	b.PrependUOffsetTSlot(ztocVersion, version, 0)
	b.PrependUOffsetTSlot(ztocTool, toolName, 0)
	b.PrependUOffsetTSlot(ztocTOC, toc, 0)
	b.PrependInt64Slot(ztocCompressedSize, compressed, 0)
	b.PrependInt64Slot(ztocUncompressedSize, uncompressed, 0)
	b.PrependUOffsetTSlot(ztocCompression, compression, 0)
	b.Finish(b.EndObject())
	return b.FinishedBytes()
}

func fileMetadata(b *flatbuffers.Builder, f file, tables func([]flatbuffers.UOffsetT) flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	h := f.hdr
	kind, _ := fileType(h.Typeflag)
	name := b.CreateString(h.Name)
	typ := b.CreateString(kind)
	link := b.CreateString(h.Linkname)
	uname := b.CreateString(h.Uname)
	gname := b.CreateString(h.Gname)
	// UTC, so the bytes do not depend on the builder's time zone.
	mtime := b.CreateString(h.ModTime.UTC().Format(time.RFC3339Nano))
	keys := make([]string, 0, len(h.PAXRecords))
	for k := range h.PAXRecords {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	xattrs := make([]flatbuffers.UOffsetT, len(keys))
	for i, k := range keys {
		key, value := b.CreateString(k), b.CreateString(h.PAXRecords[k])
		b.StartObject(2)
		b.PrependUOffsetTSlot(0, key, 0)
		b.PrependUOffsetTSlot(1, value, 0)
		xattrs[i] = b.EndObject()
	}
	xv := tables(xattrs)

	b.StartObject(fmFields)
	b.PrependUOffsetTSlot(fmName, name, 0)
	b.PrependUOffsetTSlot(fmType, typ, 0)
	b.PrependInt64Slot(fmOffset, f.offset, 0)
	b.PrependInt64Slot(fmSize, h.Size, 0)
	b.PrependUOffsetTSlot(fmLinkname, link, 0)
	b.PrependInt64Slot(fmMode, h.Mode, 0)
	b.PrependUint32Slot(fmUID, uint32(h.Uid), 0)
	b.PrependUint32Slot(fmGID, uint32(h.Gid), 0)
	b.PrependUOffsetTSlot(fmUname, uname, 0)
	b.PrependUOffsetTSlot(fmGname, gname, 0)
	b.PrependUOffsetTSlot(fmModTime, mtime, 0)
	b.PrependInt64Slot(fmDevmajor, h.Devmajor, 0)
	b.PrependInt64Slot(fmDevminor, h.Devminor, 0)
	b.PrependUOffsetTSlot(fmXattrs, xv, 0)
	return b.EndObject()
}
