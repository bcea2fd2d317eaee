package main

import (
	"fmt"
	"os"
	"strings"
)

// expandParams reads Bazel's parameter file when the command line is
// "img @FILE": actions pass their arguments that way, so that thousands of
// files stay under the system's command-line limit. The file is in Bazel's
// "shell" format: arguments separated by white space, single-quoted when
// they hold anything but safe characters, a quote itself written '\”.
func expandParams(args []string) ([]string, error) {
	if len(args) == 0 || !strings.HasPrefix(args[0], "@") {
		return args, nil
	}
	path := args[0][1:]
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading parameter file: %w", err)
	}
	out, err := splitShell(string(b))
	if err != nil {
		return nil, fmt.Errorf("parameter file %s: %w", path, err)
	}
	return append(out, args[1:]...), nil
}

// splitShell splits s into words the way a POSIX shell would for single
// quotes, backslashes and white space; nothing is expanded.
func splitShell(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		inArg bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inArg = true
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
				inArg = true
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inArg {
				words = append(words, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		words = append(words, cur.String())
	}
	return words, nil
}
