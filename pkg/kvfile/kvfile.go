// Package kvfile reads the KEY=VALUE files that env_file, label_files and
// annotations_file name, in the forms upstream rules_img accepts: a JSON
// object (string values, or lists whose last item wins), a JSON array of
// "KEY=VALUE" strings, or text with one KEY=VALUE per line.
package kvfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Read parses the file at path; what names the attribute, for messages.
func Read(what, path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", what, path, err)
	}
	return m, nil
}

// Parse reads one file's bytes. JSON values are taken verbatim; KEY=VALUE
// forms split at the first '=' and trim the spaces around key and value.
func Parse(b []byte) (map[string]string, error) {
	trimmed := bytes.TrimSpace(b)
	switch {
	case bytes.HasPrefix(trimmed, []byte("{")):
		return parseObject(trimmed)
	case bytes.HasPrefix(trimmed, []byte("[")):
		var items []string
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, fmt.Errorf("not a JSON array of \"KEY=VALUE\" strings: %w", err)
		}
		out := map[string]string{}
		for i, item := range items {
			if err := pair(out, item); err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
		}
		return out, nil
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := pair(out, line); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	return out, nil
}

func parseObject(b []byte) (map[string]string, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		var list []string
		if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 {
			return nil, fmt.Errorf("key %q: want a string or a non-empty list of strings, got %s", k, firstBytes(v))
		}
		out[k] = list[len(list)-1]
	}
	return out, nil
}

func pair(out map[string]string, s string) error {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", firstBytes([]byte(s)))
	}
	out[k] = strings.TrimSpace(v)
	return nil
}

func firstBytes(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}
