package credhelper

import (
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/leaktest"
)

// FuzzHelperOutput: a Bazel credential helper's stdout holds secrets; a
// broken answer fails without quoting any of it.
func FuzzHelperOutput(f *testing.F) {
	f.Add([]byte(`{"headers": {"Authorization": ["Bearer s3cr3t-token"]}, "expires": "2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"headers": {"x": ["s3cr3t-token"]}, "expires": "s3cr3t-token"}`))
	f.Add([]byte(`s3cr3t-token`))
	f.Fuzz(func(t *testing.T, out []byte) {
		_, err := parseOutput("helper", out)
		if err == nil {
			return
		}
		// The seeded secret, and every header value the fuzzer wrote.
		secrets := append(leaktest.Secrets(out, "headers"), "s3cr3t")
		if s := leaktest.Quoted(err.Error(), secrets); s != "" {
			t.Fatalf("error quotes the output's %q: %v", s, err)
		}
	})
}
