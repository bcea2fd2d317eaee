package harness

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// UnixProxy forwards connections from a unix socket of its own to a target
// unix socket and counts the bytes each way, e.g. to measure what a client
// writes to containerd's content API. It does not look into the stream
// (gRPC over HTTP/2 passes as is).
type UnixProxy struct {
	dir, path, target string
	listener          net.Listener
	up, down          atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartUnixProxy listens on a new socket in a short temp dir and forwards
// every connection to target.
func StartUnixProxy(target string) (*UnixProxy, error) {
	dir, err := TempDir("rie-sock-")
	if err != nil {
		return nil, err
	}
	p := &UnixProxy{dir: dir, path: filepath.Join(dir, "proxy.sock"), target: target, conns: map[net.Conn]struct{}{}}
	if p.listener, err = net.Listen("unix", p.path); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *UnixProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.listener.Accept()
		if err != nil {
			return // closed by Stop
		}
		s, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, s) {
			return
		}
		p.wg.Add(1)
		go p.serve(c, s)
	}
}

// track registers a connection pair for Stop; false once stopping.
func (p *UnixProxy) track(c, s net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		c.Close()
		s.Close()
		return false
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	return true
}

// serve copies both ways until both directions are done.
func (p *UnixProxy) serve(c, s net.Conn) {
	defer p.wg.Done()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); copyHalf(s, c, &p.up) }()
	go func() { defer wg.Done(); copyHalf(c, s, &p.down) }()
	wg.Wait()
	c.Close()
	s.Close()
	p.mu.Lock()
	if p.conns != nil {
		delete(p.conns, c)
		delete(p.conns, s)
	}
	p.mu.Unlock()
}

// copyHalf copies src to dst, counting into n. At EOF it only half-closes
// dst, since the other side may still answer; on an error both are closed.
func copyHalf(dst, src net.Conn, n *atomic.Int64) {
	if _, err := io.Copy(&countWriter{w: dst, n: n}, src); err != nil {
		dst.Close()
		src.Close()
		return
	}
	if uc, ok := dst.(*net.UnixConn); ok {
		uc.CloseWrite()
	} else {
		dst.Close()
	}
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

// Write counts what reached the other side.
func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// Path is the proxy's socket: give it to the client in place of the target.
func (p *UnixProxy) Path() string { return p.path }

// BytesUp is what clients sent to the target since start or Reset.
func (p *UnixProxy) BytesUp() int64 { return p.up.Load() }

// BytesDown is what the target sent back since start or Reset.
func (p *UnixProxy) BytesDown() int64 { return p.down.Load() }

// Reset zeroes both counts.
func (p *UnixProxy) Reset() {
	p.up.Store(0)
	p.down.Store(0)
}

// Stop closes the listener and every open connection, and removes the dir.
func (p *UnixProxy) Stop() {
	p.listener.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
	os.RemoveAll(p.dir)
}
