package layer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

var errSink = errors.New("disk full")

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

// TestChangedSizeWhileWriting: a file that is longer or shorter than it was
// when the layer was planned fails the layer, naming the file, whether it
// was read ahead (small), streamed, or compared by the deduper.
func TestChangedSizeWhileWriting(t *testing.T) {
	big := strings.Repeat("b", prefixLen+100)
	for _, tc := range []struct{ name, content string }{
		{"small", "small file"},
		{"big", big},
		{"dup-a", big + "x"},
	} {
		for _, grow := range []bool{true, false} {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{tc.name: tc.content, "dup-b": big + "x"})
			s := mustParse(t, specJSON(dir, `{"target": "//t", "entries": [
			  {"path": "/f", "type": "file", "source": "$D/`+tc.name+`"},
			  {"path": "/g", "type": "file", "source": "$D/dup-b"}]}`))
			items, err := plan(s)
			if err != nil {
				t.Fatal(err)
			}
			changed := tc.content[:len(tc.content)-1]
			if grow {
				changed = tc.content + "more"
			}
			if err := os.WriteFile(filepath.Join(dir, tc.name), []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			err = writeTar(io.Discard, s, items)
			if err == nil || !strings.Contains(err.Error(), errChangedSize.Error()) || !strings.Contains(err.Error(), tc.name) {
				t.Errorf("%s (grow %v): %v, want %q naming the file", tc.name, grow, err, errChangedSize)
			}
		}
	}
}
