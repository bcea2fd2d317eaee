package base

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
)

// Flags of an ld.so.cache entry: the library kind (glibc) and the ABI the
// dynamic loader checks an entry against (glibc's elf/cache.c values).
const (
	flagELFLibc6    = 0x0003
	flagX8664Lib64  = 0x0300
	flagS390Lib64   = 0x0400
	flagPPCLib64    = 0x0500
	flagARMLibHF    = 0x0900
	flagAArch64     = 0x0a00
	flagRISCVDouble = 0x1000
)

// abiFlags is the cache flag word of a library for its ELF machine.
func abiFlags(f *elf.File) (int32, error) {
	switch f.Machine {
	case elf.EM_X86_64:
		return flagELFLibc6 | flagX8664Lib64, nil
	case elf.EM_AARCH64:
		return flagELFLibc6 | flagAArch64, nil
	case elf.EM_ARM:
		return flagELFLibc6 | flagARMLibHF, nil
	case elf.EM_386:
		return flagELFLibc6, nil
	case elf.EM_PPC64:
		return flagELFLibc6 | flagPPCLib64, nil
	case elf.EM_S390:
		return flagELFLibc6 | flagS390Lib64, nil
	case elf.EM_RISCV:
		return flagELFLibc6 | flagRISCVDouble, nil
	}
	return 0, fmt.Errorf("ld.so.cache: no entry kind for ELF machine %s", f.Machine)
}

type cacheEntry struct {
	key, value string // SONAME, and the path the loader opens
	flags      int32
}

// libcmp is glibc's _dl_cache_libcmp: runs of digits compare as numbers.
// The loader binary-searches the cache in this order.
func libcmp(a, b string) int {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for len(a) > 0 {
		switch {
		case isDigit(a[0]) && len(b) > 0 && isDigit(b[0]):
			va, vb := 0, 0
			for len(a) > 0 && isDigit(a[0]) {
				va, a = va*10+int(a[0]-'0'), a[1:]
			}
			for len(b) > 0 && isDigit(b[0]) {
				vb, b = vb*10+int(b[0]-'0'), b[1:]
			}
			if va != vb {
				return va - vb
			}
		case isDigit(a[0]):
			return 1
		case len(b) > 0 && isDigit(b[0]):
			return -1
		case len(b) == 0 || a[0] != b[0]:
			if len(b) == 0 {
				return int(a[0])
			}
			return int(a[0]) - int(b[0])
		default:
			a, b = a[1:], b[1:]
		}
	}
	if len(b) > 0 {
		return -int(b[0])
	}
	return 0
}

// ldCache writes glibc's ld.so.cache in its current format ("glibc-ld.so.
// cache1.1"): a header, entries sorted as the loader searches them, then
// their strings, whose offsets count from the start of the file.
func ldCache(entries []cacheEntry) []byte {
	sort.SliceStable(entries, func(i, j int) bool {
		if c := libcmp(entries[i].key, entries[j].key); c != 0 {
			return c > 0
		}
		return entries[i].flags > entries[j].flags
	})
	const headerLen, entryLen = 48, 24
	var strs bytes.Buffer
	offsets := map[string]uint32{}
	base := uint32(headerLen + entryLen*len(entries))
	str := func(s string) uint32 {
		if o, ok := offsets[s]; ok {
			return o
		}
		o := base + uint32(strs.Len())
		strs.WriteString(s)
		strs.WriteByte(0)
		offsets[s] = o
		return o
	}
	var b bytes.Buffer
	b.WriteString("glibc-ld.so.cache1.1")
	le := binary.LittleEndian
	var hdr [28]byte
	le.PutUint32(hdr[0:], uint32(len(entries)))
	// len_strings is filled in below; flags 2: little-endian.
	hdr[8] = 2
	b.Write(hdr[:])
	for _, e := range entries {
		var rec [entryLen]byte
		le.PutUint32(rec[0:], uint32(e.flags))
		le.PutUint32(rec[4:], str(e.key))
		le.PutUint32(rec[8:], str(e.value))
		b.Write(rec[:])
	}
	out := append(b.Bytes(), strs.Bytes()...)
	le.PutUint32(out[24:], uint32(strs.Len()))
	return out
}
