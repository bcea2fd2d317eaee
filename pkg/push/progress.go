package push

import (
	"fmt"
	"io"
	"sync"
	"time"

	prog "github.com/rules-img/rules_img/pkg/internal/progress"
	"github.com/rules-img/rules_img/pkg/internal/text"
)

// Reporter receives progress; implementations must be safe for concurrent use.
type Reporter interface {
	Blob(ev BlobEvent)
}

// EventKind says what happened to a blob.
type EventKind int

const (
	// Queued: the blob is part of the push (sent for every blob before any
	// work, so reporters know the totals).
	Queued EventKind = iota
	// Started: the upload begins.
	Started
	// Bytes: Bytes more were sent; negative when a retry discards a failed
	// attempt.
	Bytes
	// Done: the upload finished, or failed for good when Err is set.
	Done
	// Skipped: the registry already had the blob.
	Skipped
	// Mounted: linked from another repository of the registry.
	Mounted
)

// BlobEvent is one progress event of one blob.
type BlobEvent struct {
	Digest string
	Size   int64
	Kind   EventKind
	Bytes  int64 // for Bytes: delta
	Err    error // for Done: the failure
}

type nopReporter struct{}

func (nopReporter) Blob(BlobEvent) {}

// Rates of output. Variables so tests can shorten them.
var (
	redrawInterval  = 100 * time.Millisecond
	summaryInterval = 5 * time.Second
)

// bigBlob is the size above which non-terminal output names a blob.
const bigBlob = 1 << 20

// TextReporter writes progress for humans: on a terminal one status line,
// redrawn; otherwise a line per big blob and a periodic summary, which
// reads well in CI logs.
type TextReporter struct {
	w     io.Writer
	term  bool
	label string
	now   func() time.Time

	mu                          sync.Mutex
	blobs, done                 int
	total, sent                 int64 // bytes to upload, bytes sent
	uploaded, mounted, existing int
	start, lastSum              time.Time
	line                        prog.Line // the status line on a terminal
	finished                    bool
}

// NewTextReporter reports to w. Call Finish when the push returns.
func NewTextReporter(w io.Writer, isTerminal bool, label string) *TextReporter {
	return &TextReporter{w: w, term: isTerminal, label: label, now: time.Now,
		line: prog.Line{W: w, Terminal: isTerminal, Redraw: redrawInterval}}
}

// Blob implements Reporter.
func (r *TextReporter) Blob(ev BlobEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	switch ev.Kind {
	case Queued:
		r.blobs++
		r.total += ev.Size
	case Skipped, Mounted:
		r.done++
		r.total -= ev.Size // nothing to send
		if ev.Kind == Mounted {
			r.mounted++
		} else {
			r.existing++
		}
	case Started:
		if r.start.IsZero() {
			r.start, r.lastSum = now, now
		}
		if !r.term && ev.Size > bigBlob {
			fmt.Fprintf(r.w, "%s: uploading %s (%s MiB)\n", r.label, text.ShortDigest(ev.Digest), text.MiB(ev.Size))
		}
	case Bytes:
		r.sent += ev.Bytes
	case Done:
		if ev.Err != nil {
			break // the caller reports the error
		}
		r.done++
		r.uploaded++
		if !r.term && ev.Size > bigBlob {
			fmt.Fprintf(r.w, "%s: uploaded %s (%s MiB)\n", r.label, text.ShortDigest(ev.Digest), text.MiB(ev.Size))
		}
	}
	switch {
	case r.term:
		r.line.Status(now, "%s", r.status(now))
	case !r.term && !r.start.IsZero() && now.Sub(r.lastSum) >= summaryInterval:
		r.lastSum = now
		fmt.Fprintln(r.w, r.status(now))
	}
}

// Finish writes the final state; on a terminal it ends the status line.
// Only the first call writes: a push that signs finishes before it.
func (r *TextReporter) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	r.finished = true
	now := r.now()
	r.line.Clear()
	elapsed := time.Duration(0)
	if !r.start.IsZero() {
		elapsed = now.Sub(r.start).Round(100 * time.Millisecond)
	}
	fmt.Fprintf(r.w, "%s: %d/%d blobs: %d uploaded (%s MiB in %s), %d mounted, %d already present\n",
		r.label, r.done, r.blobs, r.uploaded, text.MiB(r.sent), elapsed, r.mounted, r.existing)
}

// status is "LABEL: 1.0/4.0 MiB, 2/5 blobs, 3.1 MiB/s".
func (r *TextReporter) status(now time.Time) string {
	rate := 0.0
	if el := now.Sub(r.start).Seconds(); !r.start.IsZero() && el > 0 {
		rate = float64(r.sent) / (1 << 20) / el
	}
	return fmt.Sprintf("%s: %s/%s MiB, %d/%d blobs, %.1f MiB/s", r.label, text.MiB(r.sent), text.MiB(r.total), r.done, r.blobs, rate)
}
