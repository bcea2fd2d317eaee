package push

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/pkg/image"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeReporter(term bool) (*TextReporter, *bytes.Buffer, *fakeClock) {
	var buf bytes.Buffer
	c := &fakeClock{t: time.Unix(1000, 0)}
	r := NewTextReporter(&buf, term, "//app:push")
	r.now = c.now
	return r, &buf, c
}

const (
	bigD   = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	smallD = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	haveD  = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

func feed(r *TextReporter, c *fakeClock) {
	r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Queued})
	r.Blob(BlobEvent{Digest: smallD, Size: 100, Kind: Queued})
	r.Blob(BlobEvent{Digest: haveD, Size: 5 << 20, Kind: Queued})
	r.Blob(BlobEvent{Digest: haveD, Size: 5 << 20, Kind: Skipped})
	r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Started})
	r.Blob(BlobEvent{Digest: smallD, Size: 100, Kind: Started})
	for i := 0; i < 4; i++ {
		c.advance(2 * time.Second)
		r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Bytes, Bytes: 1 << 20})
	}
	r.Blob(BlobEvent{Digest: smallD, Size: 100, Kind: Bytes, Bytes: 100})
	r.Blob(BlobEvent{Digest: smallD, Size: 100, Kind: Done})
	r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Done})
	r.Finish()
}

func TestTextReporterLines(t *testing.T) {
	r, buf, c := newFakeReporter(false)
	feed(r, c)
	out := buf.String()
	t.Log(out)
	want := []string{
		"//app:push: uploading sha256:aaaaaaaaaaaa (4.0 MiB)\n",
		"//app:push: 3.0/4.0 MiB, 1/3 blobs, 0.5 MiB/s\n", // at 6 s
		"//app:push: uploaded sha256:aaaaaaaaaaaa (4.0 MiB)\n",
		"//app:push: 3/3 blobs: 2 uploaded (4.0 MiB in 8s), 0 mounted, 1 already present\n",
	}
	for _, w := range want[1:] {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if !strings.HasPrefix(out, want[0]) {
		t.Errorf("output does not start with %q", want[0])
	}
	if strings.Contains(out, "sha256:bbbb") {
		t.Error("small blob named")
	}
	if n := strings.Count(out, "MiB/s"); n != 1 {
		t.Errorf("%d summaries in 8s, want 1 (every 5s)", n)
	}
	if strings.Contains(out, "\r") {
		t.Error("carriage return in non-terminal output")
	}
}

func TestTextReporterTerminal(t *testing.T) {
	r, buf, c := newFakeReporter(true)
	r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Queued})
	r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Started})
	for i := 0; i < 100; i++ { // 1 s of 10 ms events: ~10 redraws
		c.advance(10 * time.Millisecond)
		r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Bytes, Bytes: 40 << 10})
	}
	r.Blob(BlobEvent{Digest: bigD, Size: 4 << 20, Kind: Done})
	r.Finish()
	out := buf.String()
	if n := strings.Count(out, "\r"); n < 9 || n > 13 {
		t.Errorf("%d redraws in one second", n)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "1 uploaded (3.9 MiB in 1s), 0 mounted, 0 already present\n") {
		t.Errorf("output %q", out)
	}
	if !strings.Contains(out, "MiB, 0/1 blobs, 3.") {
		t.Errorf("no rate in %q", out)
	}
}

// A real push through the text reporter: totals add up.
func TestTextReporterWithPush(t *testing.T) {
	tr := newTestReg(t)
	var buf bytes.Buffer
	rep := NewTextReporter(&buf, false, "//x:push")
	img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, bytesLayer(testBlob(80, 2<<20), nil))}}
	if _, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "x", Progress: rep}); err != nil {
		t.Fatal(err)
	}
	rep.Finish()
	if !strings.Contains(buf.String(), "//x:push: 2/2 blobs: 2 uploaded (2.0 MiB") || !strings.Contains(buf.String(), "//x:push: uploaded sha256:") {
		t.Errorf("output %q", buf.String())
	}
}
