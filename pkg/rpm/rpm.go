// Package rpm reads the files of an RPM package: its lead, signature and
// header, then the compressed cpio payload.
package rpm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/rules-img/rules_img/pkg/internal/unpack"
)

const (
	tagPayloadFormat     = 1124
	tagPayloadCompressor = 1125
	typeString           = 6
	maxHeader            = 64 << 20
)

// header reads one header structure and returns its string tags.
func header(r io.Reader) (map[uint32]string, int64, error) {
	var intro [16]byte
	if _, err := io.ReadFull(r, intro[:]); err != nil {
		return nil, 0, fmt.Errorf("truncated header: %w", err)
	}
	if intro[0] != 0x8e || intro[1] != 0xad || intro[2] != 0xe8 || intro[3] != 1 {
		return nil, 0, errors.New("bad header magic")
	}
	n := binary.BigEndian.Uint32(intro[8:])
	size := binary.BigEndian.Uint32(intro[12:])
	if int64(n)*16+int64(size) > maxHeader {
		return nil, 0, errors.New("header too large")
	}
	index := make([]byte, 16*int(n))
	store := make([]byte, size)
	if _, err := io.ReadFull(r, index); err != nil {
		return nil, 0, fmt.Errorf("truncated header index: %w", err)
	}
	if _, err := io.ReadFull(r, store); err != nil {
		return nil, 0, fmt.Errorf("truncated header store: %w", err)
	}
	tags := map[uint32]string{}
	for i := 0; i < int(n); i++ {
		e := index[16*i:]
		tag, typ, off := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:])
		if typ != typeString || off >= size {
			continue
		}
		s := store[off:]
		if end := strings.IndexByte(string(s), 0); end >= 0 {
			s = s[:end]
		}
		tags[tag] = string(s)
	}
	return tags, 16 + int64(len(index)) + int64(size), nil
}

// payload opens the cpio archive after the headers.
func payload(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	var lead [96]byte
	if _, err := io.ReadFull(br, lead[:]); err != nil || binary.BigEndian.Uint32(lead[:4]) != 0xedabeedb {
		return nil, nil, errors.New("not an RPM package: it does not start with an RPM lead")
	}
	_, n, err := header(br)
	if err != nil {
		return nil, nil, fmt.Errorf("signature: %w", err)
	}
	// The signature header is padded to 8 bytes.
	if pad := (8 - n%8) % 8; pad > 0 {
		if _, err := io.CopyN(io.Discard, br, pad); err != nil {
			return nil, nil, err
		}
	}
	tags, _, err := header(br)
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if f := tags[tagPayloadFormat]; f != "" && f != "cpio" {
		return nil, nil, fmt.Errorf("payload format %q is not cpio", f)
	}
	c := tags[tagPayloadCompressor]
	if c == "" {
		c = "gzip" // what rpm meant before the tag existed
	}
	if !slices.Contains(unpack.Names, c) {
		return nil, nil, fmt.Errorf("payload compression %q is not one img reads (%s)", c, strings.Join(unpack.Names, ", "))
	}
	return unpack.Reader(c, br)
}

// Files returns the regular files of the package at path whose names
// (without a leading "/" or "./") match says to keep.
func Files(path string, match func(string) bool) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, done, err := payload(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer done()
	out, err := cpioFiles(r, match)
	if err != nil {
		return nil, fmt.Errorf("%s: payload: %w", path, err)
	}
	return out, nil
}

// cpioFiles reads a "newc" cpio archive, as RPM writes it.
func cpioFiles(r io.Reader, match func(string) bool) (map[string][]byte, error) {
	out := map[string][]byte{}
	var hdr [110]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, fmt.Errorf("truncated cpio header: %w", err)
		}
		if m := string(hdr[:6]); m != "070701" && m != "070702" {
			return nil, fmt.Errorf("cpio magic %q is not newc", m)
		}
		field := func(i int) (int64, error) {
			return strconv.ParseInt(string(hdr[6+8*i:14+8*i]), 16, 64)
		}
		mode, err1 := field(1)
		size, err2 := field(6)
		nameSize, err3 := field(11)
		if err := errors.Join(err1, err2, err3); err != nil || nameSize < 1 || nameSize > 1<<16 || size < 0 {
			return nil, fmt.Errorf("bad cpio header")
		}
		name := make([]byte, nameSize)
		if _, err := io.ReadFull(r, name); err != nil {
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, r, (4-(110+nameSize)%4)%4); err != nil {
			return nil, err
		}
		n := strings.TrimPrefix(strings.TrimPrefix(strings.TrimRight(string(name), "\x00"), "."), "/")
		if n == "TRAILER!!!" {
			return out, nil
		}
		body := io.LimitReader(r, size)
		if mode&0o170000 == 0o100000 && match(n) {
			b, err := io.ReadAll(body)
			if err != nil {
				return nil, err
			}
			out[n] = b
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, r, (4-size%4)%4); err != nil {
			return nil, err
		}
	}
}
