package stamp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpandAndReadStatus(t *testing.T) {
	vars := map[string]string{"STABLE_X": "abc", "BUILD_USER": "me"}
	if got, err := Expand("v-{{.STABLE_X}}-{{.BUILD_USER}}", vars); err != nil || got != "v-abc-me" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	if _, err := Expand("{{.NOPE}}", vars); err == nil || !strings.Contains(err.Error(), "BUILD_USER, STABLE_X") {
		t.Errorf("unknown key: %v", err)
	}
	dir := t.TempDir()
	stable := filepath.Join(dir, "stable-status.txt")
	volatile := filepath.Join(dir, "volatile-status.txt")
	os.WriteFile(stable, []byte("STABLE_X abc\nBUILD_USER me\n"), 0o644)
	os.WriteFile(volatile, []byte("BUILD_USER later\nBUILD_TIMESTAMP 1\n"), 0o644)
	got, err := ReadStatus(stable, volatile)
	if err != nil || got["BUILD_USER"] != "later" || got["STABLE_X"] != "abc" {
		t.Errorf("ReadStatus = %v, %v", got, err)
	}
	// Bazel's seconds, also as the RFC 3339 time an image's created takes.
	if got["BUILD_TIMESTAMP_RFC3339"] != "1970-01-01T00:00:01Z" {
		t.Errorf("BUILD_TIMESTAMP_RFC3339 = %q", got["BUILD_TIMESTAMP_RFC3339"])
	}
}

// Without stamping, a template that needs a key vars lack is kept for a
// later stamped build; a malformed one is an error either way.
func TestFill(t *testing.T) {
	vars := map[string]string{"V": "1"}
	for _, c := range []struct {
		in       string
		stamping bool
		want     string
	}{
		{"v{{.V}}", false, "v1"},
		{"{{.BUILD_USER}}-{{.V}}", false, "{{.BUILD_USER}}-{{.V}}"},
		{"{{.BUILD_USER}}", true, "uses a key that neither build_settings nor the workspace status define"},
		{"{{.V", false, "is not a valid template"},
	} {
		got, err := Fill(c.in, vars, c.stamping)
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("Fill(%q, stamping %v) = %q, want %q", c.in, c.stamping, got, c.want)
		}
	}
}
