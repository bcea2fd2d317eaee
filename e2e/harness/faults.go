package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// FaultOptions says which requests a FaultProxy spoils. Requests are
// numbered from 1 since start or the last SetOptions, all paths counted.
type FaultOptions struct {
	// Fail503Every > 0: every Nth request is answered 503 by the proxy
	// without reaching the registry.
	Fail503Every int
	// DropEvery > 0: every Nth request loses its connection half way. A
	// request with a body has part of it forwarded, then both connections
	// are cut; otherwise the registry answers and the client gets the
	// headers and part of the body (or nothing, for an empty body) before
	// the connection is closed.
	DropEvery int
	// FailAll: every PUT of a manifest by tag (/v2/NAME/manifests/TAG) gets
	// a 500, so a push can upload everything but never complete.
	FailAll bool
	// MaxInARow > 0 spares a request (same method and path; all upload
	// sessions count as one path) that the 503 and drop faults already hit
	// this many times in a row, so a client retrying each request five
	// times fails only by mishandling a fault, hardly ever by bad luck.
	MaxInARow int
}

// FaultProxy is a reverse proxy on 127.0.0.1 in front of a registry that
// injects failures. Like Proxy it keeps the client's Host header and points
// backend URLs in Location and WWW-Authenticate at itself, and it streams
// bodies (chunked uploads) through.
type FaultProxy struct {
	addr     string
	listener net.Listener
	server   *http.Server
	rp       *httputil.ReverseProxy

	requests, injected atomic.Int64
	mu                 sync.Mutex
	opts               FaultOptions
	seq                int
	faults             []string
	inARow             map[string]int // method and path: faults in a row
}

// StartFaultProxy starts a fault proxy in front of backend: "host:port" or
// an http:// URL.
func StartFaultProxy(backend string, opts FaultOptions) (*FaultProxy, error) {
	if !strings.Contains(backend, "://") {
		backend = "http://" + backend
	}
	u, err := url.Parse(backend)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{addr: l.Addr().String(), listener: l, opts: opts}
	// Proxy's header rewriting, for our address.
	rewriter := &Proxy{backend: u, addr: p.addr}
	quiet := log.New(io.Discard, "", 0) // aborted copies are what we are here for
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		Transport:      &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 16},
		ModifyResponse: rewriter.rewriteHeaders,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
		},
		ErrorLog: quiet,
	}
	p.server = &http.Server{Handler: http.HandlerFunc(p.serve), ErrorLog: quiet}
	go p.server.Serve(l)
	return p, nil
}

// Addr is the proxy's host:port: use it in place of the registry's.
func (p *FaultProxy) Addr() string { return p.addr }

// Requests is how many requests reached the proxy since start.
func (p *FaultProxy) Requests() int64 { return p.requests.Load() }

// Injected is how many of them got a fault.
func (p *FaultProxy) Injected() int64 { return p.injected.Load() }

// Faults lists the injected faults, e.g. "503 PATCH /v2/x/blobs/uploads/…".
func (p *FaultProxy) Faults() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.faults...)
}

// SetOptions changes the faults from the next request on, and restarts the
// numbering that Fail503Every and DropEvery count.
func (p *FaultProxy) SetOptions(opts FaultOptions) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opts, p.seq, p.inARow = opts, 0, nil
}

// Stop closes the proxy's listener and connections.
func (p *FaultProxy) Stop() { p.server.Close() }

type fault int

const (
	noFault fault = iota
	fail500
	fail503
	drop
)

// decide numbers a request and picks its fault.
func (p *FaultProxy) decide(r *http.Request) fault {
	p.requests.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq++
	f := noFault
	switch o := p.opts; {
	case o.FailAll && r.Method == http.MethodPut && isTagManifest(r.URL.Path):
		f = fail500
	case o.Fail503Every > 0 && p.seq%o.Fail503Every == 0:
		f = fail503
	case o.DropEvery > 0 && p.seq%o.DropEvery == 0:
		f = drop
	}
	if key := r.Method + " " + sessionPath.ReplaceAllString(r.URL.Path, "/blobs/uploads/*"); f == fail503 || f == drop {
		if o := p.opts; o.MaxInARow > 0 && p.inARow[key] >= o.MaxInARow {
			f = noFault
			delete(p.inARow, key)
		} else {
			if p.inARow == nil {
				p.inARow = map[string]int{}
			}
			p.inARow[key]++
		}
	} else {
		delete(p.inARow, key)
	}
	if f != noFault {
		p.injected.Add(1)
		name := map[fault]string{fail500: "500", fail503: "503", drop: "drop"}[f]
		p.faults = append(p.faults, name+" "+r.Method+" "+r.URL.Path)
	}
	return f
}

// sessionPath matches an upload session's own path: a retry that starts a
// new session is still the same request to MaxInARow.
var sessionPath = regexp.MustCompile(`/blobs/uploads/[^/]+$`)

func isTagManifest(path string) bool {
	m := manPath.FindStringSubmatch(path)
	return m != nil && !strings.Contains(m[2], ":")
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	switch p.decide(r) {
	case fail500:
		registryError(w, r, http.StatusInternalServerError, "UNKNOWN", "fault proxy: tag writes fail")
	case fail503:
		registryError(w, r, http.StatusServiceUnavailable, "UNAVAILABLE", "fault proxy: injected 503")
	case drop:
		p.drop(w, r)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// registryError answers as Distribution does. The request body is read first
// so that a client still sending an upload sees the status, not a reset.
func registryError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`+"\n", code, msg)
}

var errDropped = errors.New("fault proxy: connection dropped")

// drop forwards part of the exchange, then closes the client's connection.
func (p *FaultProxy) drop(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		// Forward a part, strictly less than the whole body, then fail the
		// body so the transport aborts the registry's connection too.
		var limit int64 = 16 << 10
		if r.ContentLength > 0 {
			limit = r.ContentLength / 2
		}
		part, _ := io.ReadAll(io.LimitReader(r.Body, limit))
		if int64(len(part)) < limit { // the body was shorter
			part = part[:len(part)/2]
		}
		out := r.Clone(r.Context())
		out.Body = io.NopCloser(io.MultiReader(bytes.NewReader(part), errReader{errDropped}))
		func() {
			// ReverseProxy panics with http.ErrAbortHandler when the
			// registry's answer breaks off: expected here.
			defer func() {
				if v := recover(); v != nil && v != http.ErrAbortHandler {
					panic(v)
				}
			}()
			p.rp.ServeHTTP(discardWriter{header: http.Header{}}, out)
		}()
		closeConn(w, false)
		return
	}
	dw := &dropWriter{w: w, limit: -1, head: r.Method == http.MethodHead}
	// Deferred: ReverseProxy panics with http.ErrAbortHandler once a write
	// fails, and the connection must be closed however it ends.
	defer dw.close()
	p.rp.ServeHTTP(dw, r)
}

// closeConn closes the client's connection, after sending what is buffered
// if flush (without it, a Flush would send a 200 never written).
func closeConn(w http.ResponseWriter, flush bool) {
	if f, ok := w.(http.Flusher); ok && flush {
		f.Flush()
	}
	if h, ok := w.(http.Hijacker); ok {
		if conn, _, err := h.Hijack(); err == nil {
			conn.Close()
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d discardWriter) WriteHeader(int)             {}

// dropWriter passes the response's headers and the first half of its body
// (as Content-Length gives it, else half of the first write), then closes
// the connection. A response without a body is dropped before its headers.
type dropWriter struct {
	w       http.ResponseWriter
	head    bool
	limit   int64 // body bytes still to pass; -1 until the headers are known
	started bool  // headers passed on
	closed  bool
}

func (d *dropWriter) Header() http.Header { return d.w.Header() }

func (d *dropWriter) WriteHeader(code int) {
	if d.closed || d.started || code < 200 {
		return
	}
	cl, err := strconv.ParseInt(d.w.Header().Get("Content-Length"), 10, 64)
	if d.head || code == http.StatusNoContent || code == http.StatusNotModified || (err == nil && cl == 0) {
		d.close()
		return
	}
	if err == nil {
		d.limit = cl / 2
	}
	d.started = true
	d.w.WriteHeader(code)
}

func (d *dropWriter) Write(b []byte) (int, error) {
	if !d.started && !d.closed {
		d.WriteHeader(http.StatusOK)
	}
	if d.closed {
		return 0, errDropped
	}
	if d.limit < 0 { // unknown length: half of this first write
		d.limit = int64(len(b) / 2)
	}
	if int64(len(b)) <= d.limit {
		n, err := d.w.Write(b)
		d.limit -= int64(n)
		return n, err
	}
	n, _ := d.w.Write(b[:d.limit])
	d.close()
	return n, errDropped
}

// close is idempotent: the headers, if passed on, and the part of the body
// written reach the client before the connection goes.
func (d *dropWriter) close() {
	if d.closed {
		return
	}
	d.closed = true
	closeConn(d.w, d.started)
}

// Flush lets ReverseProxy stream; nothing beyond the limit was written.
func (d *dropWriter) Flush() {
	if f, ok := d.w.(http.Flusher); ok && !d.closed {
		f.Flush()
	}
}
