package ztoc

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// checkpoint is where a decoder can start: the first whole compressed byte
// (in), the output offset (out), how many bits of the byte before in still
// belong to the stream (bits), and the output's last 32 KiB.
type checkpoint struct {
	in, out int64
	bits    uint8
	window  []byte
}

// gzipCheckpoints decodes a gzip stream (members one after another), writes
// the uncompressed bytes to w and returns checkpoints: one after the first
// header, then one at the first block boundary more than span bytes of output
// after the last. That is zran's rule, which soci-snapshotter's own
// generator follows.
func gzipCheckpoints(r io.Reader, w io.Writer, span int64) ([]checkpoint, int64, error) {
	b := &bitReader{r: bufio.NewReaderSize(r, 1<<16)}
	crc := crc32.NewIEEE()
	o := newOutput(io.MultiWriter(w, crc))
	var points []checkpoint
	last := int64(0)
	mark := func() {
		if o.total != 0 && o.total-last <= span {
			return
		}
		pos := b.pos()
		p := checkpoint{in: (pos + 7) / 8, out: o.total, bits: uint8((8 - pos%8) % 8), window: o.window()}
		points = append(points, p)
		last = o.total
	}
	for member := 0; ; member++ {
		if member > 0 && b.atEOF() {
			break
		}
		if err := gzipHeader(b); err != nil {
			return nil, 0, fmt.Errorf("gzip header: %w", err)
		}
		mark()
		crc.Reset()
		start := o.total
		if err := inflate(b, o, mark); err != nil {
			return nil, 0, err
		}
		if err := o.flush(); err != nil {
			return nil, 0, err
		}
		b.align()
		var trailer [8]byte
		for i := range trailer {
			c, err := b.ReadByte()
			if err != nil {
				return nil, 0, fmt.Errorf("gzip trailer: %w", io.ErrUnexpectedEOF)
			}
			trailer[i] = c
		}
		if binary.LittleEndian.Uint32(trailer[:4]) != crc.Sum32() {
			return nil, 0, fmt.Errorf("gzip trailer: CRC-32 does not match the data")
		}
		if binary.LittleEndian.Uint32(trailer[4:]) != uint32(o.total-start) {
			return nil, 0, fmt.Errorf("gzip trailer: size does not match the data")
		}
	}
	return points, b.n, nil
}

func gzipHeader(b *bitReader) error {
	var h [10]byte
	for i := range h {
		c, err := b.ReadByte()
		if err != nil {
			return io.ErrUnexpectedEOF
		}
		h[i] = c
	}
	if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 {
		return fmt.Errorf("not gzip")
	}
	flags := h[3]
	skip := func(n int) error {
		for ; n > 0; n-- {
			if _, err := b.ReadByte(); err != nil {
				return io.ErrUnexpectedEOF
			}
		}
		return nil
	}
	zeroTerminated := func() error {
		for {
			c, err := b.ReadByte()
			if err != nil {
				return io.ErrUnexpectedEOF
			}
			if c == 0 {
				return nil
			}
		}
	}
	if flags&4 != 0 {
		lo, err1 := b.ReadByte()
		hi, err2 := b.ReadByte()
		if err1 != nil || err2 != nil {
			return io.ErrUnexpectedEOF
		}
		if err := skip(int(lo) | int(hi)<<8); err != nil {
			return err
		}
	}
	if flags&8 != 0 {
		if err := zeroTerminated(); err != nil {
			return err
		}
	}
	if flags&16 != 0 {
		if err := zeroTerminated(); err != nil {
			return err
		}
	}
	if flags&2 != 0 {
		return skip(2)
	}
	return nil
}

// zinfoBlob is soci's checkpoint format, version 2: the count and the span
// size, then each checkpoint's in, out, bits and window, little-endian.
func zinfoBlob(points []checkpoint, span int64) []byte {
	out := make([]byte, 0, 12+len(points)*(17+windowSize))
	out = binary.LittleEndian.AppendUint32(out, uint32(len(points)))
	out = binary.LittleEndian.AppendUint64(out, uint64(span))
	for _, p := range points {
		out = binary.LittleEndian.AppendUint64(out, uint64(p.in))
		out = binary.LittleEndian.AppendUint64(out, uint64(p.out))
		out = append(out, p.bits)
		out = append(out, p.window...)
	}
	return out
}
