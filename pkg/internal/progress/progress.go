// Package progress writes the progress of long operations (pushes, loads,
// downloads) for people: on a terminal one status line redrawn in place,
// elsewhere whole lines, which read well in CI logs.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Line writes lines, and on a terminal a status line under them. It is not
// safe for concurrent use; callers that report from several goroutines
// hold their own lock.
type Line struct {
	W        io.Writer // nil: silent
	Terminal bool
	// Redraw is the least time between two status redraws; 0: no limit.
	Redraw time.Duration

	last  time.Time
	drawn bool
}

// Printf writes one whole line (the newline is added), clearing the status
// line first.
func (l *Line) Printf(format string, args ...any) {
	if l == nil || l.W == nil {
		return
	}
	l.Clear()
	fmt.Fprintf(l.W, format+"\n", args...)
}

// Status redraws the status line, only on a terminal and only when Redraw
// has passed since the last redraw. It reports whether it drew.
func (l *Line) Status(now time.Time, format string, args ...any) bool {
	if l == nil || l.W == nil || !l.Terminal || (l.drawn && now.Sub(l.last) < l.Redraw) {
		return false
	}
	l.last = now
	l.drawn = true
	fmt.Fprintf(l.W, "\r\x1b[K"+format, args...)
	return true
}

// Clear erases a drawn status line.
func (l *Line) Clear() {
	if l != nil && l.drawn {
		fmt.Fprint(l.W, "\r\x1b[K")
		l.drawn = false
	}
}

// Every writes line() to w every interval until stop is called, so a long
// download does not look hung. A nil w writes nothing.
func Every(w io.Writer, interval time.Duration, line func() string) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(w, line())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
