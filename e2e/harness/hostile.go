package harness

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Hostile is a loopback HTTP server that misbehaves as its handler says: a
// registry cannot be made to send an HTML error page or a redirect loop on
// demand, so the catalogue of hostile inputs uses these. Every request is
// recorded as "METHOD /path".
type Hostile struct {
	ln   net.Listener
	srv  *http.Server
	mu   sync.Mutex
	reqs []string
}

// StartHostile serves h on a free loopback port.
func StartHostile(h http.Handler) (*Hostile, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Hostile{ln: ln}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *Hostile) Addr() string { return s.ln.Addr().String() }
func (s *Hostile) Stop()        { s.srv.Close() }

// Requests lists the requests so far.
func (s *Hostile) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// TagWrites lists the requests that would have written a tag or manifest.
func (s *Hostile) TagWrites() []string {
	var out []string
	for _, r := range s.Requests() {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/manifests/") {
			out = append(out, r)
		}
	}
	return out
}

// GarbageSocket is a unix socket whose every connection gets reply: a
// daemon socket that answers something else entirely.
type GarbageSocket struct {
	Path string
	ln   net.Listener
}

func StartGarbageSocket(path string, reply []byte) (*GarbageSocket, error) {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Answer only once a request has arrived: a reply written at
				// connect races the client's first write, and HTTP clients
				// then take it for either an answer or an unsolicited one.
				readHeader(c)
				c.Write(reply)
				// The reply ends at end of file (it has no length), and the
				// connection stays readable until the client hangs up.
				if u, ok := c.(*net.UnixConn); ok {
					u.CloseWrite()
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return &GarbageSocket{Path: path, ln: ln}, nil
}

// readHeader reads until the end of an HTTP header (an HTTP/2 preface has
// one too) or until the client stops writing.
func readHeader(c net.Conn) {
	var seen []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(seen, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		seen = append(seen, buf[:n]...)
		if err != nil {
			return
		}
	}
}

func (g *GarbageSocket) Stop() { g.ln.Close(); os.Remove(g.Path) }

// RewriteProxy forwards to a real registry. modify may change each answer;
// with uploadDelay, every blob upload request waits that long (or until the
// client goes away) before it is forwarded.
type RewriteProxy struct {
	*Hostile
	uploads atomic.Int64
}

func StartRewriteProxy(backend string, modify func(*http.Request, *http.Response), uploadDelay time.Duration) (*RewriteProxy, error) {
	p := &RewriteProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: backend})
			r.Out.Host = backend
		},
		ModifyResponse: func(resp *http.Response) error {
			if modify != nil {
				modify(resp.Request, resp)
			}
			return nil
		},
	}
	h, err := StartHostile(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") {
			p.uploads.Add(1)
			if uploadDelay > 0 {
				select {
				case <-time.After(uploadDelay):
				case <-r.Context().Done():
					return
				}
			}
		}
		rp.ServeHTTP(w, r)
	}))
	if err != nil {
		return nil, err
	}
	p.Hostile = h
	return p, nil
}

// Uploads counts blob upload requests seen.
func (p *RewriteProxy) Uploads() int64 { return p.uploads.Load() }
