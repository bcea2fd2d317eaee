package ztoc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// A deflate decoder (RFC 1951) of our own: the standard library's hides
// where blocks end, and a checkpoint can only be placed there, with the bit
// position and the 32 KiB of output before it.

const (
	windowSize = 1 << 15
	maxBits    = 15
	fastBits   = 9
)

var errCorrupt = errors.New("corrupt deflate data")

// bitReader reads bits least significant first and counts the bytes it
// took, so a bit position is n*8 - nb.
type bitReader struct {
	r   *bufio.Reader
	n   int64
	buf uint64
	nb  uint
}

func (b *bitReader) need(n uint) error {
	for b.nb < n {
		c, err := b.r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		b.buf |= uint64(c) << b.nb
		b.nb += 8
		b.n++
	}
	return nil
}

func (b *bitReader) bits(n uint) (uint32, error) {
	if err := b.need(n); err != nil {
		return 0, err
	}
	v := uint32(b.buf & (1<<n - 1))
	b.buf >>= n
	b.nb -= n
	return v, nil
}

// pos is the bit position in the stream of the next unread bit.
func (b *bitReader) pos() int64 { return b.n*8 - int64(b.nb) }

// atEOF reports whether the stream has no more whole bytes (after align).
func (b *bitReader) atEOF() bool {
	if b.nb >= 8 {
		return false
	}
	_, err := b.r.Peek(1)
	return err != nil
}

// align drops the rest of a partly read byte.
func (b *bitReader) align() {
	drop := b.nb % 8
	b.buf >>= drop
	b.nb -= drop
}

// ReadByte reads a whole byte, from the bit buffer first; only after align.
func (b *bitReader) ReadByte() (byte, error) {
	if b.nb >= 8 {
		c := byte(b.buf)
		b.buf >>= 8
		b.nb -= 8
		return c, nil
	}
	c, err := b.r.ReadByte()
	if err == nil {
		b.n++
	}
	return c, err
}

// huffman is a canonical code: count of codes per length, symbols in code
// order, and a table of the codes up to fastBits long, indexed by the next
// stream bits (entry: symbol<<4 | length; 0 when longer).
type huffman struct {
	count  [maxBits + 1]uint16
	symbol []uint16
	fast   [1 << fastBits]uint16
}

func (h *huffman) build(lengths []uint8) error {
	*h = huffman{symbol: make([]uint16, 0, len(lengths))}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l <= maxBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return fmt.Errorf("%w: oversubscribed code", errCorrupt)
		}
	}
	var offs [maxBits + 2]uint16
	for l := 1; l <= maxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	h.symbol = h.symbol[:offs[maxBits+1]]
	var next [maxBits + 1]int
	code := 0
	for l := 1; l <= maxBits; l++ {
		code = (code + int(h.count[l-1])) << 1
		next[l] = code
	}
	for sym, l := range lengths {
		if l == 0 {
			continue
		}
		h.symbol[offs[l]] = uint16(sym)
		offs[l]++
		c := next[l]
		next[l]++
		if l > fastBits {
			continue
		}
		rev := 0
		for i := 0; i < int(l); i++ {
			rev |= (c >> i & 1) << (int(l) - 1 - i)
		}
		for i := rev; i < 1<<fastBits; i += 1 << l {
			h.fast[i] = uint16(sym)<<4 | uint16(l)
		}
	}
	return nil
}

func (h *huffman) decode(b *bitReader) (int, error) {
	if b.need(fastBits) == nil {
		if e := h.fast[b.buf&(1<<fastBits-1)]; e != 0 {
			l := uint(e & 15)
			b.buf >>= l
			b.nb -= l
			return int(e >> 4), nil
		}
	}
	// Bit by bit: codes longer than the table, or the stream's last bits.
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		bit, err := b.bits(1)
		if err != nil {
			return 0, err
		}
		code |= int(bit)
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, fmt.Errorf("%w: no such code", errCorrupt)
}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	clOrder     = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

	fixedLit, fixedDist huffman
)

func init() {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	if err := fixedLit.build(l[:]); err != nil {
		panic(err)
	}
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	if err := fixedDist.build(d[:]); err != nil {
		panic(err)
	}
}

// output keeps at least the last windowSize bytes written, for back
// references and checkpoints, and passes everything on to w.
type output struct {
	buf     []byte
	flushed int
	total   int64
	w       io.Writer
}

const outputLimit = 1 << 20

func newOutput(w io.Writer) *output {
	return &output{buf: make([]byte, 0, outputLimit+windowSize+1024), w: w}
}

// room makes sure n more bytes fit without losing the window.
func (o *output) room(n int) error {
	if len(o.buf)+n <= cap(o.buf) {
		return nil
	}
	if err := o.flush(); err != nil {
		return err
	}
	keep := min(len(o.buf), windowSize)
	copy(o.buf, o.buf[len(o.buf)-keep:])
	o.buf = o.buf[:keep]
	o.flushed = keep
	return nil
}

func (o *output) flush() error {
	if _, err := o.w.Write(o.buf[o.flushed:]); err != nil {
		return err
	}
	o.flushed = len(o.buf)
	return nil
}

// window is the windowSize bytes before the current position, zeros first
// when fewer were written.
func (o *output) window() []byte {
	w := make([]byte, windowSize)
	n := min(len(o.buf), windowSize)
	copy(w[windowSize-n:], o.buf[len(o.buf)-n:])
	return w
}

// inflate decodes one deflate stream from b into o, calling boundary after
// each block but the last, where b's position is the block's end.
func inflate(b *bitReader, o *output, boundary func()) error {
	var lit, dist huffman
	for {
		final, err := b.bits(1)
		if err != nil {
			return err
		}
		kind, err := b.bits(2)
		if err != nil {
			return err
		}
		switch kind {
		case 0:
			err = stored(b, o)
		case 1:
			err = codes(b, o, &fixedLit, &fixedDist)
		case 2:
			if err = dynamic(b, &lit, &dist); err == nil {
				err = codes(b, o, &lit, &dist)
			}
		default:
			err = fmt.Errorf("%w: block type 3", errCorrupt)
		}
		if err != nil {
			return err
		}
		if final == 1 {
			return nil
		}
		boundary()
	}
}

func stored(b *bitReader, o *output) error {
	b.align()
	v, err := b.bits(32)
	if err != nil {
		return err
	}
	n, nc := v&0xffff, v>>16
	if n != ^nc&0xffff {
		return fmt.Errorf("%w: stored block length", errCorrupt)
	}
	if err := o.room(int(n)); err != nil {
		return err
	}
	// Whole bytes already in the bit buffer first, then straight from the
	// reader: incompressible data is mostly stored blocks.
	for ; n > 0 && b.nb >= 8; n-- {
		c, _ := b.ReadByte()
		o.buf = append(o.buf, c)
		o.total++
	}
	start := len(o.buf)
	o.buf = o.buf[:start+int(n)]
	got, err := io.ReadFull(b.r, o.buf[start:])
	b.n += int64(got)
	o.total += int64(got)
	if err != nil {
		o.buf = o.buf[:start+got]
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

func dynamic(b *bitReader, lit, dist *huffman) error {
	v, err := b.bits(14)
	if err != nil {
		return err
	}
	nlen, ndist, ncode := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nlen > 286 || ndist > 30 {
		return fmt.Errorf("%w: too many codes", errCorrupt)
	}
	var cl [19]uint8
	for i := 0; i < ncode; i++ {
		l, err := b.bits(3)
		if err != nil {
			return err
		}
		cl[clOrder[i]] = uint8(l)
	}
	var clh huffman
	if err := clh.build(cl[:]); err != nil {
		return err
	}
	lengths := make([]uint8, nlen+ndist)
	for i := 0; i < len(lengths); {
		sym, err := clh.decode(b)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep uint32
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return fmt.Errorf("%w: repeat with no length", errCorrupt)
			}
			val = lengths[i-1]
			rep, err = b.bits(2)
			rep += 3
		case 17:
			rep, err = b.bits(3)
			rep += 3
		default:
			rep, err = b.bits(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+int(rep) > len(lengths) {
			return fmt.Errorf("%w: lengths overrun", errCorrupt)
		}
		for ; rep > 0; rep-- {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 {
		return fmt.Errorf("%w: no end-of-block code", errCorrupt)
	}
	if err := lit.build(lengths[:nlen]); err != nil {
		return err
	}
	return dist.build(lengths[nlen:])
}

func codes(b *bitReader, o *output, lit, dist *huffman) error {
	for {
		sym, err := lit.decode(b)
		if err != nil {
			return err
		}
		if sym < 256 {
			if len(o.buf) == cap(o.buf) {
				if err := o.room(1); err != nil {
					return err
				}
			}
			o.buf = append(o.buf, byte(sym))
			o.total++
			continue
		}
		if sym == 256 {
			return nil
		}
		sym -= 257
		if sym >= 29 {
			return fmt.Errorf("%w: bad length code", errCorrupt)
		}
		extra, err := b.bits(uint(lengthExtra[sym]))
		if err != nil {
			return err
		}
		n := int(lengthBase[sym]) + int(extra)
		ds, err := dist.decode(b)
		if err != nil {
			return err
		}
		if ds >= 30 {
			return fmt.Errorf("%w: bad distance code", errCorrupt)
		}
		extra, err = b.bits(uint(distExtra[ds]))
		if err != nil {
			return err
		}
		d := int(distBase[ds]) + int(extra)
		if int64(d) > o.total {
			return fmt.Errorf("%w: distance too far back", errCorrupt)
		}
		if err := o.room(n); err != nil {
			return err
		}
		start := len(o.buf) - d
		for i := 0; i < n; i++ {
			o.buf = append(o.buf, o.buf[start+i])
		}
		o.total += int64(n)
	}
}
