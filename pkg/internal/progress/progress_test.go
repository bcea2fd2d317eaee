package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLineTerminal(t *testing.T) {
	var b bytes.Buffer
	l := &Line{W: &b, Terminal: true, Redraw: time.Second}
	t0 := time.Unix(0, 0)
	if !l.Status(t0, "1/3") {
		t.Fatal("first status not drawn")
	}
	if l.Status(t0.Add(time.Millisecond), "2/3") {
		t.Fatal("redrawn within Redraw")
	}
	l.Printf("done %d", 1)
	l.Status(t0.Add(2*time.Second), "3/3")
	l.Clear()
	want := "\r\x1b[K1/3" + "\r\x1b[K" + "done 1\n" + "\r\x1b[K3/3" + "\r\x1b[K"
	if b.String() != want {
		t.Errorf("wrote %q, want %q", b.String(), want)
	}
}

func TestLinePlain(t *testing.T) {
	var b bytes.Buffer
	l := &Line{W: &b}
	if l.Status(time.Now(), "status") {
		t.Error("drew a status line off a terminal")
	}
	l.Printf("a")
	l.Clear()
	if b.String() != "a\n" {
		t.Errorf("wrote %q", b.String())
	}
	var silent *Line
	silent.Printf("nothing") // must not panic
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestEvery(t *testing.T) {
	var b syncBuffer
	stop := Every(&b, time.Millisecond, func() string { return "tick" })
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), "tick\n") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	stop() // twice is fine
	n := strings.Count(b.String(), "tick")
	if n == 0 {
		t.Fatal("no line written")
	}
	time.Sleep(10 * time.Millisecond)
	if strings.Count(b.String(), "tick") != n {
		t.Error("lines written after stop")
	}
	Every(nil, time.Millisecond, func() string { return "x" })()
}
