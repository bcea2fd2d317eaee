package harness

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Category is the kind of registry request a byte count belongs to.
type Category string

const (
	Manifests Category = "manifests" // /v2/NAME/manifests/REF
	Blobs     Category = "blobs"     // /v2/NAME/blobs/DIGEST and /v2/NAME/blobs/uploads/...
	Other     Category = "other"     // /v2/, tags lists, catalog, anything else
)

// Counts are the requests of one category and their body bytes.
type Counts struct {
	Requests int
	BytesIn  int64 // request bodies (client → registry: pushes)
	BytesOut int64 // response bodies (registry → client: pulls)
}

// Request is one request that went through the proxy.
type Request struct {
	Method, Path string // Path without the query
	Category     Category
	Digest       string // the digest the path names, or the one an upload's final PUT names
	Status       int    // 0 until the registry answered
	BytesIn      int64
	BytesOut     int64
}

// ProxyStats is a snapshot of what went through a Proxy since it started or
// was last Reset.
type ProxyStats struct {
	Manifests, Blobs, Other Counts
	// BlobBytesOut: response body bytes per blob digest (GET /v2/NAME/blobs/DIGEST).
	BlobBytesOut map[string]int64
	// BlobBytesIn: uploaded bytes per blob digest; the bytes of an upload
	// session (POST, PATCHes, PUT) are credited to the digest its final PUT
	// names, once that PUT is made.
	BlobBytesIn map[string]int64
	Requests    []Request
}

// BytesOutOf sums the response bytes served for the blobs named in digests,
// such as a base image's layers.
func (s ProxyStats) BytesOutOf(digests map[string]bool) int64 {
	var n int64
	for d, b := range s.BlobBytesOut {
		if digests[d] {
			n += b
		}
	}
	return n
}

// Of returns the counts of one category.
func (s ProxyStats) Of(c Category) Counts {
	switch c {
	case Manifests:
		return s.Manifests
	case Blobs:
		return s.Blobs
	}
	return s.Other
}

// Total sums all categories.
func (s ProxyStats) Total() Counts {
	var t Counts
	for _, c := range []Counts{s.Manifests, s.Blobs, s.Other} {
		t.Requests += c.Requests
		t.BytesIn += c.BytesIn
		t.BytesOut += c.BytesOut
	}
	return t
}

// Proxy is a reverse proxy on 127.0.0.1 in front of a registry that counts
// body bytes in both directions. It forwards everything as is (auth headers
// included) and keeps the client's Host header, so the URLs a registry builds
// (upload Locations) point back at the proxy; absolute URLs naming the
// backend in Location and WWW-Authenticate are rewritten to the proxy too.
type Proxy struct {
	backend  *url.URL
	addr     string
	listener net.Listener
	server   *http.Server

	mu      sync.Mutex
	counts  map[Category]*Counts
	out     map[string]int64
	in      map[string]int64
	uploads map[string]int64 // upload session id → bytes so far
	reqs    []*Request
	gate    chan struct{} // while set, requests wait for it to close
	held    int           // requests waiting at the gate
}

// Hold makes requests wait in the proxy until Release: a test can then act
// while a client is surely mid-push.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate == nil {
		p.gate = make(chan struct{})
	}
}

// Held returns how many requests are waiting at the gate.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Release lets held requests (and later ones) through.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gate != nil {
		close(p.gate)
		p.gate = nil
	}
}

// StartProxy starts a counting proxy in front of backend: "host:port" or an
// http:// URL.
func StartProxy(backend string) (*Proxy, error) {
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
	p := &Proxy{backend: u, addr: l.Addr().String(), listener: l}
	p.Reset()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.target())
			r.Out.Host = r.In.Host // the registry builds its URLs from it
			r.SetXForwarded()
		},
		// No transparent gzip: count what the client and registry exchange.
		Transport:      &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 16},
		ModifyResponse: p.rewriteHeaders,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.server = &http.Server{Handler: p.handler(rp)}
	go p.server.Serve(l)
	return p, nil
}

func (p *Proxy) target() *url.URL {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.backend
}

// SetBackend points the proxy at another registry ("host:port"), so that a
// client keeps one address (and builds keep one configuration) while the
// registry behind it starts empty.
func (p *Proxy) SetBackend(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.backend = &url.URL{Scheme: "http", Host: addr}
}

// Addr returns the proxy's host:port: use it in place of the registry's.
func (p *Proxy) Addr() string { return p.addr }

// Stop closes the proxy's listener and connections.
func (p *Proxy) Stop() { p.server.Close() }

// Reset forgets everything counted so far.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[Category]*Counts{Manifests: {}, Blobs: {}, Other: {}}
	p.out = map[string]int64{}
	p.in = map[string]int64{}
	p.uploads = map[string]int64{}
	p.reqs = nil
}

// Stats returns a snapshot of the counts. Bytes are counted as they pass, so
// a client that has finished is fully counted.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := ProxyStats{
		Manifests:    *p.counts[Manifests],
		Blobs:        *p.counts[Blobs],
		Other:        *p.counts[Other],
		BlobBytesOut: make(map[string]int64, len(p.out)),
		BlobBytesIn:  make(map[string]int64, len(p.in)),
	}
	for k, v := range p.out {
		s.BlobBytesOut[k] = v
	}
	for k, v := range p.in {
		s.BlobBytesIn[k] = v
	}
	for _, r := range p.reqs {
		s.Requests = append(s.Requests, *r)
	}
	return s
}

// String summarises the stats for test logs.
func (s ProxyStats) String() string {
	var b strings.Builder
	for _, c := range []Category{Manifests, Blobs, Other} {
		n := s.Of(c)
		fmt.Fprintf(&b, "%s: %d requests, %d bytes in, %d bytes out\n", c, n.Requests, n.BytesIn, n.BytesOut)
	}
	return b.String()
}

var (
	uploadPath = regexp.MustCompile(`^/v2/(.+)/blobs/uploads/([^/]*)$`)
	blobPath   = regexp.MustCompile(`^/v2/(.+)/blobs/([^/]+)$`)
	manPath    = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)
)

// classify returns a request's category, the digest its path names, and for
// blob uploads the upload session id (empty when it starts one).
func classify(path string) (cat Category, digest, upload string, isUpload bool) {
	if m := uploadPath.FindStringSubmatch(path); m != nil {
		return Blobs, "", m[2], true
	}
	if m := blobPath.FindStringSubmatch(path); m != nil {
		return Blobs, m[2], "", false
	}
	if m := manPath.FindStringSubmatch(path); m != nil {
		if strings.Contains(m[2], ":") {
			digest = m[2]
		}
		return Manifests, digest, "", false
	}
	return Other, "", "", false
}

func (p *Proxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		gate := p.gate
		if gate != nil {
			p.held++
		}
		p.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
			}
			p.mu.Lock()
			p.held--
			p.mu.Unlock()
			if r.Context().Err() != nil {
				return
			}
		}
		cat, digest, upload, isUpload := classify(r.URL.Path)
		req := &Request{Method: r.Method, Path: r.URL.Path, Category: cat, Digest: digest}
		p.mu.Lock()
		p.counts[cat].Requests++
		p.reqs = append(p.reqs, req)
		p.mu.Unlock()

		// An upload's bytes are kept per session (the id in the path; a POST
		// that starts one has none yet, so it is its own session) until the
		// request that completes it (PUT, or a monolithic POST) names the
		// digest in its query.
		session, finalDigest := upload, ""
		if isUpload {
			if session == "" {
				session = fmt.Sprintf("request-%p", req)
			}
			if r.Method == http.MethodPut || r.Method == http.MethodPost {
				finalDigest = r.URL.Query().Get("digest")
				req.Digest = finalDigest
			}
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingReader{ReadCloser: r.Body, add: func(n int64) {
				p.mu.Lock()
				defer p.mu.Unlock()
				p.counts[cat].BytesIn += n
				req.BytesIn += n
				if isUpload {
					p.uploads[session] += n
				}
			}}
		}
		cw := &countingWriter{ResponseWriter: w, status: func(code int) {
			p.mu.Lock()
			defer p.mu.Unlock()
			req.Status = code
			// The session's bytes are all in once the registry answers.
			if finalDigest != "" && code < 300 {
				p.in[finalDigest] += p.uploads[session]
				delete(p.uploads, session)
			}
		}, add: func(n int64) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.counts[cat].BytesOut += n
			req.BytesOut += n
			if cat == Blobs && digest != "" {
				p.out[digest] += n
			}
		}}
		next.ServeHTTP(cw, r)
		if !cw.wroteHeader { // net/http answers 200 for a handler that wrote nothing
			cw.wroteHeader = true
			cw.status(http.StatusOK)
		}
	})
}

// rewriteHeaders points absolute URLs that name the backend at the proxy.
func (p *Proxy) rewriteHeaders(resp *http.Response) error {
	backend := p.target()
	from := backend.Scheme + "://" + backend.Host
	to := "http://" + p.addr
	for _, h := range []string{"Location", "Www-Authenticate"} {
		vals := resp.Header.Values(h)
		for i, v := range vals {
			vals[i] = strings.ReplaceAll(v, from, to)
		}
	}
	return nil
}

type countingReader struct {
	io.ReadCloser
	add func(int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	status      func(int)
	add         func(int64)
	wroteHeader bool
}

func (c *countingWriter) WriteHeader(code int) {
	if !c.wroteHeader && code >= 200 {
		c.wroteHeader = true
		c.status(code)
	}
	c.ResponseWriter.WriteHeader(code)
}

// Write counts before writing, so the count is complete by the time the
// client has the bytes.
func (c *countingWriter) Write(b []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	c.add(int64(len(b)))
	n, err := c.ResponseWriter.Write(b)
	if n < len(b) {
		c.add(int64(n - len(b)))
	}
	return n, err
}

// Unwrap lets http.ResponseController (used by ReverseProxy) flush.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
