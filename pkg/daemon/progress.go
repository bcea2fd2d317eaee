package daemon

import (
	"io"
	"time"

	prog "github.com/rules-img/rules_img/pkg/internal/progress"
)

// progress writes the human-readable lines of a load. On a terminal, a blob
// that takes a while also gets a percentage redrawn in place.
type progress struct{ line prog.Line }

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{line: prog.Line{W: w, Terminal: tty, Redraw: 200 * time.Millisecond}}
}

func (p *progress) linef(format string, args ...any) {
	if p != nil {
		p.line.Printf(format, args...)
	}
}

// partial redraws a status line, only on a terminal, only once the blob has
// taken a second, and at most five times a second.
func (p *progress) partial(started time.Time, format string, args ...any) {
	if now := time.Now(); p != nil && now.Sub(started) >= time.Second {
		p.line.Status(now, format, args...)
	}
}

func (p *progress) clearPartial() {
	if p != nil {
		p.line.Clear()
	}
}
