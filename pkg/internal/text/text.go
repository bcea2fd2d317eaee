// Package text formats what rules_img prints: untrusted text made safe for
// one line, first lines of other programs' output, and sizes.
package text

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Printable makes untrusted text safe to print on one line: control
// characters (line breaks, terminal escapes) become spaces or "?", invalid
// UTF-8 becomes U+FFFD, and the result is cut at max bytes.
func Printable(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return '?'
		}
		return r
	}, s)
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// FirstLine is the first non-empty-trimmed line of another program's output,
// made printable and cut at max bytes.
func FirstLine(s string, max int) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return Printable(strings.TrimSpace(line), max)
}

// Size is n bytes for people: "512 B", "3.2 KiB", "41.0 MiB", "1.5 GiB".
func Size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// MiB is n in mebibytes with one decimal, for "3.1/40.0 MiB" progress.
func MiB(n int64) string {
	return fmt.Sprintf("%.1f", float64(n)/(1<<20))
}

// ShortDigest is "sha256:" and the first 12 hex digits, as in docker's
// short IDs.
func ShortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}
