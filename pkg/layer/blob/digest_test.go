package blob

import (
	"bytes"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

// TestAsyncDigester: hashing on another goroutine gives the same digest and
// size as hashing inline, whatever the write sizes (smaller than, equal to
// and larger than its buffers).
func TestAsyncDigester(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (3*fanoutBufSize+12345)/16)
	for _, chunk := range []int{1, 1000, fanoutBufSize, fanoutBufSize + 1, 5 * fanoutBufSize} {
		d := NewAsyncDigester()
		for p := data; len(p) > 0; {
			n := min(chunk, len(p))
			d.Write(p[:n])
			p = p[n:]
		}
		if got, want := d.Digest(), oci.Digest(data); got != want || d.Size() != int64(len(data)) {
			t.Errorf("chunk %d: %s/%d, want %s/%d", chunk, got, d.Size(), want, len(data))
		}
		d.Close() // after digest: a no-op
	}
	d := NewAsyncDigester()
	d.Close() // without digest: stops the goroutine
	if got := d.Digest(); got != oci.Digest(nil) {
		t.Errorf("empty: %s", got)
	}
}
