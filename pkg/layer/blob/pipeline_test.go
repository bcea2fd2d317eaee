package blob

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

var errSink = errors.New("disk full")

// TestFanoutSinksSeeTheSameBytes: every sink gets every byte, in order,
// whatever the write sizes.
func TestFanoutSinksSeeTheSameBytes(t *testing.T) {
	data := make([]byte, 5*fanoutBufSize+777)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	var a, b bytes.Buffer
	f := newFanout(&a, &b)
	for p := data; len(p) > 0; {
		n := min(len(p), 1+r.IntN(3*fanoutBufSize))
		if _, err := f.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), data) || !bytes.Equal(b.Bytes(), data) || f.n != int64(len(data)) {
		t.Fatalf("sinks got %d and %d bytes of %d (counted %d), or other bytes", a.Len(), b.Len(), len(data), f.n)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

type failAfter struct{ left int }

func (w *failAfter) Write(p []byte) (int, error) {
	if w.left < len(p) {
		return 0, errSink
	}
	w.left -= len(p)
	return len(p), nil
}

// TestFanoutSinkError: a failing sink stops the producer with its error
// instead of blocking it; the other sink is drained.
func TestFanoutSinkError(t *testing.T) {
	var ok bytes.Buffer
	f := newFanout(&failAfter{left: 2 * fanoutBufSize}, &ok)
	chunk := make([]byte, 64<<10)
	var err error
	for i := 0; i < 4*fanoutBufs*fanoutBufSize/len(chunk) && err == nil; i++ {
		_, err = f.Write(chunk)
	}
	if cerr := f.Close(); !errors.Is(cerr, errSink) {
		t.Fatalf("Close = %v, want %v", cerr, errSink)
	}
	if err != nil && !errors.Is(err, errSink) {
		t.Fatalf("Write = %v, want %v", err, errSink)
	}
}
