package deb

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Paragraph is one stanza of a deb822 file (a control file, a Packages
// index): field -> value, continuation lines joined with "\n".
type Paragraph map[string]string

// ParseParagraphs reads deb822 stanzas separated by blank lines.
func ParseParagraphs(r io.Reader) ([]Paragraph, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var out []Paragraph
	var cur Paragraph
	var last string
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(text) == "":
			if cur != nil {
				out = append(out, cur)
				cur, last = nil, ""
			}
		case strings.HasPrefix(text, "#") && cur == nil:
		case text[0] == ' ' || text[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("line %d: a continuation line with no field before it", line)
			}
			cur[last] += "\n" + strings.TrimSpace(text)
		default:
			k, v, ok := strings.Cut(text, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not a field (Name: value)", line, text)
			}
			if cur == nil {
				cur = Paragraph{}
			}
			last = k
			cur[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out, nil
}
