package cas

import (
	"strings"
	"testing"
)

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
