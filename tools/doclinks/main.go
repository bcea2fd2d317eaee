// Command doclinks checks the Markdown files it is given: every relative link
// names a file of the repository, and every #anchor one of the target's
// headings (as GitHub renders their ids) or an explicit <a id="...">. It
// prints each broken link with its file and line, and exits 1 if there is one.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

var (
	link     = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	heading  = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	explicit = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
)

// anchor is the id GitHub gives a heading: lower case, punctuation other
// than '-' and '_' dropped, spaces turned into '-'.
func anchor(text string) string {
	text = regexp.MustCompile("`([^`]*)`").ReplaceAllString(text, "$1")
	text = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`).ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the ids a Markdown file defines.
func anchors(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids := map[string]bool{}
	seen := map[string]int{}
	fence := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		for _, m := range explicit.FindAllStringSubmatch(line, -1) {
			ids[m[1]] = true
		}
		if fence {
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			id := anchor(m[2])
			// Repeated headings get -1, -2, ... as on GitHub.
			if n := seen[id]; n > 0 {
				ids[fmt.Sprintf("%s-%d", id, n)] = true
			} else {
				ids[id] = true
			}
			seen[id]++
		}
	}
	return ids, sc.Err()
}

func main() {
	bad := 0
	cache := map[string]map[string]bool{}
	for _, file := range os.Args[1:] {
		f, err := os.Open(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		n, fence := 0, false
		for sc.Scan() {
			n++
			line := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				fence = !fence
			}
			if fence {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, frag, _ := strings.Cut(target, "#")
				dest := file
				if path != "" {
					dest = filepath.Join(filepath.Dir(file), path)
				}
				if _, err := os.Stat(dest); err != nil {
					fmt.Printf("%s:%d: %s: no such file %s\n", file, n, target, dest)
					bad++
					continue
				}
				if frag == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				ids, ok := cache[dest]
				if !ok {
					if ids, err = anchors(dest); err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(2)
					}
					cache[dest] = ids
				}
				if !ids[frag] {
					fmt.Printf("%s:%d: %s: %s has no heading or anchor #%s\n", file, n, target, dest, frag)
					bad++
				}
			}
		}
		f.Close()
	}
	if bad > 0 {
		fmt.Printf("%d broken links\n", bad)
		os.Exit(1)
	}
}
