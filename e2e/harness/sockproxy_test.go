package harness

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestUnixProxy(t *testing.T) {
	dir, err := TempDir("rie-echo-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// Echo server that answers only once the client has finished sending.
	target := filepath.Join(dir, "echo.sock")
	l, err := net.Listen("unix", target)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(append(b, b...))
			}()
		}
	}()

	p, err := StartUnixProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	exchange := func(n int) {
		t.Helper()
		c, err := net.Dial("unix", p.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := bytes.Repeat([]byte("u"), n)
		c.Write(msg)
		c.(*net.UnixConn).CloseWrite() // the half-close must reach the server
		got, err := io.ReadAll(c)
		if err != nil || len(got) != 2*n {
			t.Fatalf("echo: %d bytes, %v; want %d", len(got), err, 2*n)
		}
	}
	// Counts are added right after each write: give the last one a moment.
	waitCounts := func(up, down int64) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if p.BytesUp() == up && p.BytesDown() == down {
				return
			}
		}
		t.Errorf("BytesUp %d BytesDown %d, want %d and %d", p.BytesUp(), p.BytesDown(), up, down)
	}
	exchange(100_000)
	exchange(1000)
	waitCounts(101_000, 202_000)
	p.Reset()
	waitCounts(0, 0)
	exchange(10)
	waitCounts(10, 20)

	path := p.Path()
	p.Stop()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket %s not removed: %v", path, err)
	}
}
