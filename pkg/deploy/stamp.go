package deploy

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/template"
)

// ReadStatus reads Bazel workspace status files (KEY VALUE per line); a key
// in a later file wins.
func ReadStatus(paths ...string) (map[string]string, error) {
	vars := map[string]string{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), " ")
			if k != "" {
				vars[k] = v
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return vars, nil
}

// Expand fills {{.KEY}} templates from the workspace status. An unknown key
// is an error that lists the keys there are.
func Expand(s string, vars map[string]string) (string, error) {
	if !HasTemplate(s) {
		return s, nil
	}
	t, err := template.New("stamp").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid stamp template: %w", s, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "", fmt.Errorf("%q uses a key the workspace status lacks (add it to your --workspace_status_command); keys: %s", s, strings.Join(keys, ", "))
	}
	return b.String(), nil
}
