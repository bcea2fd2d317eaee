// Package stamp fills {{.KEY}} Go templates in image names and config
// values from build settings, the image digest and Bazel's workspace status.
package stamp

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
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
	// Bazel's BUILD_TIMESTAMP is Unix seconds; an image's created time is
	// RFC 3339 (upstream rules_img names the converted key the same way).
	if ts, err := strconv.ParseInt(vars["BUILD_TIMESTAMP"], 10, 64); err == nil {
		vars["BUILD_TIMESTAMP_RFC3339"] = time.Unix(ts, 0).UTC().Format(time.RFC3339)
	}
	return vars, nil
}

type syntaxError struct{ error }

// IsSyntaxError reports whether err says a template is malformed (rather
// than that it uses a key vars lack).
func IsSyntaxError(err error) bool {
	var s syntaxError
	return errors.As(err, &s)
}

// Expand fills {{.KEY}} templates from vars (build settings, the digest and,
// when stamping, the workspace status). An unknown key is an error that
// lists the keys there are.
func Expand(s string, vars map[string]string) (string, error) {
	if !HasTemplate(s) {
		return s, nil
	}
	t, err := template.New("stamp").Option("missingkey=error").Parse(s)
	if err != nil {
		return "", syntaxError{fmt.Errorf("%q is not a valid template: %w", s, err)}
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		keys := make([]string, 0, len(vars))
		for k := range vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "", fmt.Errorf("%q uses a key that neither build_settings nor the workspace status define (add it to build_settings or your --workspace_status_command); keys: %s", s, strings.Join(keys, ", "))
	}
	return b.String(), nil
}

// HasTemplate reports whether s still holds a {{.KEY}} template.
func HasTemplate(s string) bool { return strings.Contains(s, "{{") }

// Fill expands s. With stamping on, a key vars lack is an error; with it off
// such a template is kept as written, for a later stamped build to fill.
func Fill(s string, vars map[string]string, stamping bool) (string, error) {
	out, err := Expand(s, vars)
	if err != nil && !stamping && !IsSyntaxError(err) {
		return s, nil
	}
	return out, err
}
