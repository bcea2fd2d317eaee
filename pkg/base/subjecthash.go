package base

import (
	"bytes"
	"crypto/sha1"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"
)

// String types OpenSSL canonicalises when it hashes a name.
const (
	tagUTF8      = 12
	tagPrintable = 19
	tagT61       = 20
	tagIA5       = 22
	tagVisible   = 26
	tagUniversal = 28
	tagBMP       = 30
)

// SubjectHash is OpenSSL's X509_NAME_hash of a DER name: the first four
// bytes, little-endian, of the SHA-1 of its canonical form (every string
// UTF-8, trimmed, inner whitespace runs one space, ASCII lower case; the
// RDN sets without the outer SEQUENCE). It names the <hash>.0 links that
// OpenSSL looks CAs up by in a certificate directory.
func SubjectHash(rawSubject []byte) (uint32, error) {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(rawSubject, &seq); err != nil {
		return 0, fmt.Errorf("subject is not DER: %w", err)
	}
	var canon []byte
	for rest := seq.Bytes; len(rest) > 0; {
		var set asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &set); err != nil {
			return 0, fmt.Errorf("subject RDN: %w", err)
		}
		var avas [][]byte
		for in := set.Bytes; len(in) > 0; {
			var ava struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}
			if in, err = asn1.Unmarshal(in, &ava); err != nil {
				return 0, fmt.Errorf("subject attribute: %w", err)
			}
			value := ava.Value
			if s, ok := decodeString(value); ok && value.Class == asn1.ClassUniversal {
				value = asn1.RawValue{Class: asn1.ClassUniversal, Tag: tagUTF8, Bytes: []byte(canonical(s))}
			} else {
				value = asn1.RawValue{FullBytes: value.FullBytes}
			}
			b, err := asn1.Marshal(struct {
				Type  asn1.ObjectIdentifier
				Value asn1.RawValue
			}{ava.Type, value})
			if err != nil {
				return 0, err
			}
			avas = append(avas, b)
		}
		// DER sorts a SET OF by encoding.
		sort.Slice(avas, func(i, j int) bool { return bytes.Compare(avas[i], avas[j]) < 0 })
		b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(avas, nil)})
		if err != nil {
			return 0, err
		}
		canon = append(canon, b...)
	}
	sum := sha1.Sum(canon)
	return binary.LittleEndian.Uint32(sum[:4]), nil
}

func decodeString(v asn1.RawValue) (string, bool) {
	switch v.Tag {
	case tagUTF8, tagPrintable, tagIA5, tagVisible:
		return string(v.Bytes), true
	case tagT61:
		// OpenSSL reads T61String as Latin-1.
		r := make([]rune, len(v.Bytes))
		for i, c := range v.Bytes {
			r[i] = rune(c)
		}
		return string(r), true
	case tagBMP:
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(v.Bytes[2*i:])
		}
		return string(utf16.Decode(u)), true
	case tagUniversal:
		r := make([]rune, len(v.Bytes)/4)
		for i := range r {
			r[i] = rune(binary.BigEndian.Uint32(v.Bytes[4*i:]))
		}
		return string(r), true
	}
	return "", false
}

func canonical(s string) string {
	isSpace := func(c byte) bool { return strings.IndexByte(" \t\n\v\f\r", c) >= 0 }
	s = strings.TrimFunc(s, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isSpace(c):
			space = true
			continue
		case space:
			b.WriteByte(' ')
			space = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}
