package cas

import (
	"strings"
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
		_, err := parseHelperOutput("helper", out)
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

// FuzzFindMissing: the blob cache endpoint decodes requests from the
// network; any bytes give an error or blobs that encode back the same.
func FuzzFindMissing(f *testing.F) {
	req, _ := EncodeFindMissing("inst", []Blob{{Digest: "sha256:" + strings.Repeat("ab", 32), Size: 7}})
	f.Add(req)
	f.Add([]byte{0x12, 0x02, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		inst, blobs, err := DecodeFindMissing(b)
		if err != nil {
			return
		}
		again, err := EncodeFindMissing(inst, blobs)
		if err != nil {
			t.Fatalf("decoded blobs %v do not encode: %v", blobs, err)
		}
		inst2, blobs2, err := DecodeFindMissing(again)
		if err != nil || inst2 != inst || len(blobs2) != len(blobs) {
			t.Fatalf("round trip: %q %v %v, want %q %v", inst2, blobs2, err, inst, blobs)
		}
		for i := range blobs {
			if blobs[i] != blobs2[i] {
				t.Fatalf("round trip changed %v into %v", blobs[i], blobs2[i])
			}
		}
	})
}
