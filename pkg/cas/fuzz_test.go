package cas

import (
	"strings"
	"testing"
)

// FuzzHelperOutput: a Bazel credential helper's stdout holds secrets; a
// broken answer fails without quoting any of it.
func FuzzHelperOutput(f *testing.F) {
	f.Add([]byte(`{"headers": {"Authorization": ["Bearer s3cr3t-token"]}, "expires": "2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"headers": {"x": ["s3cr3t-token"]}, "expires": "s3cr3t-token"}`))
	f.Add([]byte(`s3cr3t-token`))
	f.Fuzz(func(t *testing.T, out []byte) {
		_, err := parseHelperOutput("helper", out)
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Fatalf("error quotes the output: %v", err)
		}
	})
}
