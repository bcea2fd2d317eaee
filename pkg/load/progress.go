package load

import (
	"fmt"
	"io"
	"time"
)

// progress writes the human-readable lines of a load. On a terminal, a blob
// that takes a while also gets a percentage redrawn in place.
type progress struct {
	w        io.Writer
	tty      bool
	lastDraw time.Time
	drawn    bool
}

func (p *progress) linef(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.clearPartial()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// partial redraws a status line, only on a terminal, only once the blob has
// taken a second, and at most five times a second.
func (p *progress) partial(started time.Time, format string, args ...any) {
	if p == nil || p.w == nil || !p.tty || time.Since(started) < time.Second || time.Since(p.lastDraw) < 200*time.Millisecond {
		return
	}
	p.lastDraw = time.Now()
	p.drawn = true
	fmt.Fprintf(p.w, "\r\033[K"+format, args...)
}

func (p *progress) clearPartial() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
