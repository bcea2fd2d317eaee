// Package casreg is an OCI distribution registry whose blobs are the
// entries of a Bazel remote cache (REAPI CAS): pulls read layers straight
// from the CAS over ByteStream, so pushing an image Bazel built there means
// sending only its manifests and tags. Manifests, tags and blob sizes live
// in a data directory and survive restarts.
//
// The registry has no authentication and speaks plain HTTP: it belongs on
// loopback or behind a gateway that adds both.
package casreg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/reference"
)

// Blobs is where blob bytes live: the CAS (cas.REAPI), or the CAS with
// uploads kept on this registry's disk (Local).
type Blobs interface {
	Open(ctx context.Context, digest string, size int64) (io.ReadCloser, error)
	Missing(ctx context.Context, bs []cas.Blob) ([]cas.Blob, error)
	Write(ctx context.Context, digest string, size int64, r io.Reader) error
	String() string
}

// Registry serves the distribution API over Blobs and a data directory.
type Registry struct {
	blobs Blobs
	st    *store
	opts  Options
	log   *log.Logger

	sessions sync.Map // upload ID -> *sync.Mutex, held while a request writes it
	stop     chan struct{}
	stopOnce sync.Once

	// Counters for logs and tests.
	BlobsServed, BlobBytesServed, BlobsUploaded, BlobBytesUploaded atomic.Int64
}

// Options bound what one client can make the registry hold.
type Options struct {
	Log *log.Logger // nil: discard
	// MaxUploadSize bounds one blob upload (0: DefaultMaxUploadSize).
	MaxUploadSize int64
	// UploadExpiry is how long an upload session may sit unused before it
	// is removed (0: DefaultUploadExpiry).
	UploadExpiry time.Duration
	// IdleTimeout cuts a request body or blob response that has not moved
	// MinProgress bytes for this long (0: DefaultIdleTimeout).
	IdleTimeout time.Duration
	// CASDigestFunction is the function the CAS keys blobs by: "sha256"
	// (or "") or "sha1" (a cache for Bazel's --digest_function=SHA1).
	CASDigestFunction string
}

// Defaults for Options: a blob as large as common registries take, a
// session a slow client can come back to, and a minute without progress.
const (
	DefaultMaxUploadSize = 10 << 30
	DefaultUploadExpiry  = time.Hour
	DefaultIdleTimeout   = time.Minute
	// MinProgress is what a body must bring per IdleTimeout for its
	// deadline to move on: a client trickling bytes cannot hold a
	// connection and a session for ever.
	MinProgress = 64 << 10
)

// New opens the data directory dir (created when missing). Close stops its
// session janitor.
func New(blobs Blobs, dir string, o Options) (*Registry, error) {
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	if o.MaxUploadSize <= 0 {
		o.MaxUploadSize = DefaultMaxUploadSize
	}
	if o.UploadExpiry <= 0 {
		o.UploadExpiry = DefaultUploadExpiry
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.CASDigestFunction, err = oci.CASDigestFunction(o.CASDigestFunction); err != nil {
		return nil, err
	}
	g := &Registry{blobs: blobs, st: st, opts: o, log: o.Log, stop: make(chan struct{})}
	go g.janitor()
	return g, nil
}

// Close stops background work; requests in flight are the HTTP server's.
func (g *Registry) Close() { g.stopOnce.Do(func() { close(g.stop) }) }

// maxManifest bounds a manifest body; registries commonly allow 4 MiB.
const maxManifest = 4 << 20

type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func writeErr(w http.ResponseWriter, r *http.Request, e *apiError) {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": e.code, "message": e.message}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// ServeHTTP routes /v2/ requests.
func (g *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rc := http.NewResponseController(w)
	if r.Body != nil {
		_ = rc.SetReadDeadline(time.Now().Add(g.opts.IdleTimeout))
		r.Body = &flowBody{ReadCloser: r.Body, rc: rc, idle: g.opts.IdleTimeout}
	}
	if err := g.route(w, r); err != nil {
		if err.status >= 500 {
			g.log.Printf("%s %s: %s", r.Method, r.URL.Path, err.message)
		}
		if err.status == http.StatusInternalServerError {
			// The detail names files of the data directory: it is for the
			// operator's log, not for clients.
			err = errf(err.status, err.code, "internal error; the registry's log has the detail")
		}
		writeErr(w, r, err)
	}
}

// flowBody moves the connection's read deadline on while a request body
// brings at least MinProgress bytes per idle period.
type flowBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	idle  time.Duration
	since int
}

func (f *flowBody) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.since += n; f.since >= MinProgress {
		f.since = 0
		_ = f.rc.SetReadDeadline(time.Now().Add(f.idle))
	}
	return n, err
}

// flowWriter is flowBody's counterpart for a blob response.
type flowWriter struct {
	w     io.Writer
	rc    *http.ResponseController
	idle  time.Duration
	since int
}

func (f *flowWriter) Write(p []byte) (int, error) {
	if f.since == 0 {
		_ = f.rc.SetWriteDeadline(time.Now().Add(f.idle))
	}
	n, err := f.w.Write(p)
	if f.since += n; f.since >= MinProgress {
		f.since = 0
	}
	return n, err
}

func (g *Registry) route(w http.ResponseWriter, r *http.Request) *apiError {
	p := r.URL.Path
	if p == "/v2/" || p == "/v2" {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return nil
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return errf(http.StatusNotFound, "NOT_FOUND", "not a registry API path: %s", p)
	}
	// The repository name may hold slashes: the route is the rightmost
	// keyword (the longest of those found at one place).
	kind, at := "", -1
	for _, k := range []string{"/blobs/uploads/", "/blobs/uploads", "/blobs/", "/manifests/", "/tags/list", "/referrers/"} {
		if i := strings.LastIndex(rest, k); i > at {
			kind, at = k, i
		}
	}
	if at > 0 {
		repo, arg := rest[:at], rest[at+len(kind):]
		if err := reference.CheckRepository(repo); err != nil {
			return errf(http.StatusBadRequest, "NAME_INVALID", "%v", err)
		}
		switch kind {
		case "/blobs/uploads/", "/blobs/uploads":
			return g.upload(w, r, repo, arg)
		case "/blobs/":
			return g.blob(w, r, repo, arg)
		case "/referrers/":
			return g.referrers(w, r, repo, arg)
		case "/manifests/":
			return g.manifests(w, r, repo, arg)
		case "/tags/list":
			if arg != "" {
				break
			}
			return g.tagList(w, r, repo)
		}
	}
	return errf(http.StatusNotFound, "NOT_FOUND", "not a registry API path: %s", p)
}

func checkDigest(d string) *apiError {
	if err := oci.CheckRegistryDigest(d); err != nil {
		return errf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	return nil
}

// blob serves GET, HEAD and DELETE of a blob in repo; the bytes come from
// the CAS.
func (g *Registry) blob(w http.ResponseWriter, r *http.Request, repo, digest string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodDelete {
		return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of a blob is not supported", r.Method)
	}
	if err := checkDigest(digest); err != nil {
		return err
	}
	info, ok := g.st.blob(digest)
	if !ok || g.st.blobDeleted(repo, digest) {
		return errf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s is unknown to this registry in %s: it knows the blobs of manifests pushed here, blobs uploaded here and those announced to its blob cache endpoint", digest, repo)
	}
	if r.Method == http.MethodDelete {
		// The CAS is Bazel's: the blob leaves this repository only.
		if err := g.st.deleteBlob(repo, digest); err != nil {
			return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	size, where := info.size, info.casBlob(digest)
	gone := func() *apiError {
		return errf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s (%d bytes) is not in the CAS %s: it was evicted, or never stored; rebuild and push the image again", digest, size, g.blobs)
	}
	first, last, aerr := byteRange(r.Header.Get("Range"), size)
	if aerr != nil {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return aerr
	}
	if r.Method == http.MethodHead {
		missing, err := g.blobs.Missing(r.Context(), []cas.Blob{where})
		if err != nil {
			return errf(http.StatusServiceUnavailable, "UNAVAILABLE", "%v", err)
		}
		if len(missing) > 0 {
			return gone()
		}
		blobHeaders(w, digest, size)
		return nil
	}
	rc, err := g.blobs.Open(r.Context(), where.Digest, where.Size)
	if errors.Is(err, cas.ErrNotFound) {
		return gone()
	}
	if err != nil {
		return errf(http.StatusServiceUnavailable, "UNAVAILABLE", "%v", err)
	}
	defer rc.Close()
	out := &flowWriter{w: w, rc: http.NewResponseController(w), idle: g.opts.IdleTimeout}
	if first >= 0 {
		// A range is served from the bytes as the CAS sends them; only a
		// whole blob can be checked against its digest.
		blobHeaders(w, digest, last-first+1)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
		w.WriteHeader(http.StatusPartialContent)
		if _, err := io.CopyN(io.Discard, rc, first); err != nil {
			g.log.Printf("GET blob %s range: %v", digest, err)
			panic(http.ErrAbortHandler)
		}
		n, err := io.CopyN(out, rc, last-first+1)
		g.BlobBytesServed.Add(n)
		if err != nil {
			g.log.Printf("GET blob %s range: %v", digest, err)
			panic(http.ErrAbortHandler)
		}
		return nil
	}
	blobHeaders(w, digest, size)
	h, _ := oci.NewHash(digest)
	n, err := io.Copy(io.MultiWriter(out, h), rc)
	g.BlobBytesServed.Add(n)
	alg, _, _ := strings.Cut(digest, ":")
	if err == nil && (n != size || oci.DigestOf(alg, h) != digest) {
		err = fmt.Errorf("the CAS returned %d bytes that hash to something else", n)
	}
	if err == nil && !info.verified {
		// The bytes prove the size; no announcement can change it now.
		if serr := g.st.setSize(digest, size, true, info.cas); serr != nil {
			g.log.Printf("GET blob %s: %v", digest, serr)
		}
	}
	if err != nil {
		// The headers are gone: break the connection, so the client sees a
		// failed transfer and never a short or wrong blob.
		g.log.Printf("GET blob %s: %v", digest, err)
		panic(http.ErrAbortHandler)
	}
	g.BlobsServed.Add(1)
	return nil
}

// byteRange reads a Range header of one range over size bytes: first and
// last byte, or -1, -1 for none (or several, which are answered whole).
func byteRange(h string, size int64) (first, last int64, err *apiError) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return -1, -1, nil
	}
	bad := errf(http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID", "range %q of a %d-byte blob", h, size)
	from, to, _ := strings.Cut(spec, "-")
	switch {
	case from == "": // the last N bytes
		n, perr := strconv.ParseInt(to, 10, 64)
		if perr != nil || n <= 0 || size == 0 {
			return 0, 0, bad
		}
		return max(size-n, 0), size - 1, nil
	default:
		a, perr := strconv.ParseInt(from, 10, 64)
		if perr != nil || a < 0 || a >= size {
			return 0, 0, bad
		}
		b := size - 1
		if to != "" {
			if b, perr = strconv.ParseInt(to, 10, 64); perr != nil || b < a {
				return 0, 0, bad
			}
		}
		return a, min(b, size-1), nil
	}
}

func blobHeaders(w http.ResponseWriter, digest string, size int64) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Docker-Content-Digest", digest)
}

// present reports whether the CAS has a blob this registry knows the size of.
func (g *Registry) present(ctx context.Context, digest string) (bool, *apiError) {
	info, ok := g.st.blob(digest)
	if !ok {
		return false, nil
	}
	missing, err := g.blobs.Missing(ctx, []cas.Blob{info.casBlob(digest)})
	if err != nil {
		return false, errf(http.StatusServiceUnavailable, "UNAVAILABLE", "%v", err)
	}
	return len(missing) == 0, nil
}

// upload handles POST (start, monolithic or mount), PATCH, PUT, GET and
// DELETE of blob uploads. Sessions are files in the data directory.
func (g *Registry) upload(w http.ResponseWriter, r *http.Request, repo, id string) *apiError {
	q := r.URL.Query()
	if r.Method == http.MethodPost && id == "" {
		if d := q.Get("mount"); d != "" {
			if err := checkDigest(d); err != nil {
				return err
			}
			// Every repository shares the CAS: a blob present is mountable.
			ok, err := g.present(r.Context(), d)
			if err != nil {
				return err
			}
			if ok {
				g.st.undeleteBlob(repo, d)
				created(w, "/v2/"+repo+"/blobs/"+d, d)
				return nil
			}
		}
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
		f, err := os.Create(g.st.uploadPath(id))
		if err != nil {
			return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
		}
		f.Close()
		if d := q.Get("digest"); d != "" {
			// Monolithic: the body is the whole blob.
			unlock := g.lockSession(id)
			defer unlock()
			if _, aerr := g.appendBody(g.st.uploadPath(id), r, -1); aerr != nil {
				os.Remove(g.st.uploadPath(id))
				return aerr
			}
			return g.finish(w, r, repo, id, d)
		}
		return uploadAccepted(w, repo, id, 0)
	}
	if id == "" || strings.ContainsAny(id, "/.") {
		return errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload session %q", id)
	}
	path := g.st.uploadPath(id)
	fi, err := os.Stat(path)
	if err != nil {
		return errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload session %s: it was finished, cancelled, expired or never started", id)
	}
	if r.Method == http.MethodGet {
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		setRange(w, fi.Size())
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if r.Method != http.MethodDelete && r.Method != http.MethodPatch && r.Method != http.MethodPut {
		return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of an upload is not supported", r.Method)
	}
	// One request at a time writes a session; a second one would
	// interleave its bytes with the first's.
	unlock, ok := g.tryLockSession(id)
	if !ok {
		return errf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "upload %s is being written by another request; send chunks one after another", id)
	}
	defer unlock()
	if !exists(path) {
		return errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload session %s: it was finished, cancelled or expired", id)
	}
	start, aerr := contentRangeStart(r)
	if aerr != nil {
		return aerr
	}
	switch r.Method {
	case http.MethodDelete:
		os.Remove(path)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		n, aerr := g.appendBody(path, r, start)
		if aerr != nil {
			return aerr
		}
		return uploadAccepted(w, repo, id, n)
	default: // PUT
		if _, aerr := g.appendBody(path, r, start); aerr != nil {
			return aerr
		}
		return g.finish(w, r, repo, id, q.Get("digest"))
	}
}

// contentRangeStart reads the first byte of a chunk's Content-Range
// ("START-END", also "bytes START-END/TOTAL"); -1 when there is none.
func contentRangeStart(r *http.Request) (int64, *apiError) {
	v := strings.TrimSpace(r.Header.Get("Content-Range"))
	if v == "" {
		return -1, nil
	}
	v = strings.TrimPrefix(v, "bytes ")
	v, _, _ = strings.Cut(v, "/")
	from, to, ok := strings.Cut(v, "-")
	start, err1 := strconv.ParseInt(from, 10, 64)
	end, err2 := strconv.ParseInt(to, 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start-1 {
		return 0, errf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "Content-Range %q is not START-END", r.Header.Get("Content-Range"))
	}
	return start, nil
}

func (g *Registry) lockSession(id string) func() {
	m, _ := g.sessions.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (g *Registry) tryLockSession(id string) (func(), bool) {
	m, _ := g.sessions.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	if !mu.TryLock() {
		return nil, false
	}
	return mu.Unlock, true
}

// janitor removes upload sessions unused for longer than UploadExpiry, so
// abandoned ones do not fill the disk until a restart.
func (g *Registry) janitor() {
	tick := time.NewTicker(max(g.opts.UploadExpiry/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		g.expireSessions()
	}
}

func (g *Registry) expireSessions() {
	ents, err := os.ReadDir(filepath.Dir(g.st.uploadPath("x")))
	if err != nil {
		return
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < g.opts.UploadExpiry {
			continue
		}
		unlock, ok := g.tryLockSession(e.Name())
		if !ok {
			continue // a request is writing it right now
		}
		os.Remove(g.st.uploadPath(e.Name()))
		g.sessions.Delete(e.Name())
		unlock()
		g.log.Printf("upload session %s expired after %s unused", e.Name(), g.opts.UploadExpiry)
	}
}

func setRange(w http.ResponseWriter, n int64) {
	if n > 0 {
		w.Header().Set("Range", "0-"+strconv.FormatInt(n-1, 10))
	} else {
		w.Header().Set("Range", "0-0")
	}
}

func uploadAccepted(w http.ResponseWriter, repo, id string, n int64) *apiError {
	w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
	w.Header().Set("Docker-Upload-UUID", id)
	setRange(w, n)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// appendBody adds a request body to an upload and returns the new length.
// start, unless -1, is where the chunk says it begins: it must be the
// session's length. A body that fails or exceeds MaxUploadSize leaves the
// session as it was.
func (g *Registry) appendBody(path string, r *http.Request, start int64) (int64, *apiError) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload session gone: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	have := fi.Size()
	if start >= 0 && start != have {
		return 0, errf(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", "the chunk starts at byte %d, but the upload holds %d bytes: send the chunk that starts there", start, have)
	}
	room := g.opts.MaxUploadSize - have
	tooBig := func() *apiError {
		return errf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "a blob may hold at most %d bytes here (the registry's --max-upload-size)", g.opts.MaxUploadSize)
	}
	if r.ContentLength > room {
		return 0, tooBig()
	}
	n, err := io.Copy(f, io.LimitReader(r.Body, room+1))
	if err == nil && n > room {
		err = tooBig()
	}
	if err != nil {
		// Nothing of a failed chunk stays: the client resumes at have.
		if terr := f.Truncate(have); terr != nil {
			os.Remove(path)
		}
		if e, ok := err.(*apiError); ok {
			return 0, e
		}
		return 0, errf(http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "reading the upload: %v", err)
	}
	return have + n, nil
}

// finish checks an upload against its digest and writes it to the blob
// store; the session ends either way.
func (g *Registry) finish(w http.ResponseWriter, r *http.Request, repo, id, digest string) *apiError {
	path := g.st.uploadPath(id)
	defer g.sessions.Delete(id)
	defer os.Remove(path)
	if err := checkDigest(digest); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload session gone: %v", err)
	}
	defer f.Close()
	// The CAS keys blobs by its digest function; a blob named by another
	// digest is stored under that key, and the store maps one to the other.
	alg, _, _ := strings.Cut(digest, ":")
	casHash, _ := oci.NewHash(g.opts.CASDigestFunction + ":")
	h, _ := oci.NewHash(digest)
	size, err := io.Copy(io.MultiWriter(h, casHash), f)
	if err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	if got := oci.DigestOf(alg, h); got != digest {
		return errf(http.StatusBadRequest, "DIGEST_INVALID", "the uploaded %d bytes hash to %s, not %s", size, got, digest)
	}
	casDigest := oci.DigestOf(g.opts.CASDigestFunction, casHash)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	if err := g.blobs.Write(r.Context(), casDigest, size, f); err != nil {
		return errf(http.StatusServiceUnavailable, "UNAVAILABLE", "storing %s in %s: %v", digest, g.blobs, err)
	}
	if err := g.st.setSize(digest, size, true, casDigest); err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	if casDigest != digest {
		if err := g.st.setCASKey(casDigest, digest); err != nil {
			return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
		}
	}
	g.st.undeleteBlob(repo, digest)
	g.BlobsUploaded.Add(1)
	g.BlobBytesUploaded.Add(size)
	g.log.Printf("blob %s (%d bytes) uploaded to %s", digest, size, repo)
	created(w, "/v2/"+repo+"/blobs/"+digest, digest)
	return nil
}

// manifests serves GET, HEAD and PUT of manifests by tag or digest.
func (g *Registry) manifests(w http.ResponseWriter, r *http.Request, repo, ref string) *apiError {
	byDigest := strings.Contains(ref, ":")
	if byDigest {
		if err := checkDigest(ref); err != nil {
			return err
		}
	} else if err := reference.CheckTag(ref); err != nil {
		return errf(http.StatusBadRequest, "TAG_INVALID", "%v", err)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		digest := g.st.resolve(repo, ref)
		if digest == "" {
			return errf(http.StatusNotFound, "MANIFEST_UNKNOWN", "%s:%s is not in this registry", repo, ref)
		}
		raw, mt, err := g.st.manifest(repo, digest)
		if err != nil {
			return errf(http.StatusInternalServerError, "UNKNOWN", "reading manifest %s: %v", digest, err)
		}
		w.Header().Set("Content-Type", string(mt))
		w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
		w.Header().Set("Docker-Content-Digest", digest)
		if r.Method == http.MethodGet {
			w.Write(raw)
		}
		return nil
	case http.MethodPut:
		return g.putManifest(w, r, repo, ref, byDigest)
	case http.MethodDelete:
		return g.deleteManifest(w, repo, ref, byDigest)
	}
	return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of a manifest is not supported", r.Method)
}

// deleteManifest removes a manifest (by digest: with its tags) or a tag
// from repo.
func (g *Registry) deleteManifest(w http.ResponseWriter, repo, ref string, byDigest bool) *apiError {
	if !byDigest {
		ok, err := g.st.deleteTag(repo, ref)
		if err != nil {
			return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
		}
		if !ok {
			return errf(http.StatusNotFound, "MANIFEST_UNKNOWN", "%s has no tag %s", repo, ref)
		}
		g.log.Printf("%s:%s deleted", repo, ref)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	if g.st.resolve(repo, ref) == "" {
		return errf(http.StatusNotFound, "MANIFEST_UNKNOWN", "%s@%s is not in this registry", repo, ref)
	}
	subject := ""
	if raw, _, err := g.st.manifest(repo, ref); err == nil {
		var doc oci.Document
		if json.Unmarshal(raw, &doc) == nil && doc.Subject != nil {
			subject = doc.Subject.Digest
		}
	}
	if err := g.st.deleteManifest(repo, ref, subject); err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "deleting %s: %v", ref, err)
	}
	g.log.Printf("%s@%s deleted", repo, ref)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// referrers answers the Referrers API: an index of repo's manifests whose
// subject is digest, filtered by ?artifactType=.
func (g *Registry) referrers(w http.ResponseWriter, r *http.Request, repo, digest string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of referrers is not supported", r.Method)
	}
	if err := checkDigest(digest); err != nil {
		return err
	}
	all, err := g.st.referrers(repo, digest)
	if err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	list := []oci.Descriptor{}
	want := r.URL.Query().Get("artifactType")
	for _, d := range all {
		if want == "" || d.ArtifactType == want {
			list = append(list, d)
		}
	}
	if want != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	body, jerr := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeIndex, "manifests": list})
	if jerr != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", jerr)
	}
	w.Header().Set("Content-Type", string(oci.MediaTypeIndex))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}

func (g *Registry) putManifest(w http.ResponseWriter, r *http.Request, repo, ref string, byDigest bool) *apiError {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
	if err != nil {
		return errf(http.StatusBadRequest, "MANIFEST_INVALID", "reading the manifest: %v", err)
	}
	if len(raw) > maxManifest {
		return errf(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest larger than %d bytes", maxManifest)
	}
	digest := oci.Digest(raw)
	if byDigest {
		alg, _, _ := strings.Cut(ref, ":")
		digest = oci.DigestWith(alg, raw)
	}
	if byDigest && ref != digest {
		return errf(http.StatusBadRequest, "DIGEST_INVALID", "the manifest hashes to %s, not %s", digest, ref)
	}
	if err := checkUniqueKeys(raw); err != nil {
		return errf(http.StatusBadRequest, "MANIFEST_INVALID", "%v", err)
	}
	var doc oci.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return errf(http.StatusBadRequest, "MANIFEST_INVALID", "not JSON: %v", err)
	}
	mt, aerr := manifestType(r.Header.Get("Content-Type"), doc)
	if aerr != nil {
		return aerr
	}
	switch {
	case mt.IsIndex():
		if aerr := g.checkChildren(repo, doc.Manifests); aerr != nil {
			return aerr
		}
	case mt.IsManifest():
		if aerr := g.checkBlobs(r.Context(), repo, doc); aerr != nil {
			return aerr
		}
	}
	tag := ""
	if !byDigest {
		tag = ref
	}
	// A subject need not be here (OCI 1.1): referrers may come first.
	subject := ""
	self := oci.Descriptor{MediaType: mt, Digest: digest, Size: int64(len(raw)), ArtifactType: doc.ArtifactType, Annotations: doc.Annotations}
	if doc.Subject != nil {
		if err := checkDigest(doc.Subject.Digest); err != nil {
			return errf(http.StatusBadRequest, "MANIFEST_INVALID", "subject: %s", err.message)
		}
		subject = doc.Subject.Digest
		if self.ArtifactType == "" && doc.Config != nil {
			self.ArtifactType = string(doc.Config.MediaType)
		}
	}
	if err := g.st.putManifest(repo, tag, digest, mt, raw, subject, self); err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "storing manifest %s: %v", digest, err)
	}
	if subject != "" {
		w.Header().Set("OCI-Subject", subject)
	}
	if tag != "" {
		g.log.Printf("%s:%s -> %s", repo, tag, digest)
	}
	created(w, "/v2/"+repo+"/manifests/"+digest, digest)
	return nil
}

// manifestType is the media type a manifest is stored and served as: the
// body's own when it has one (a Content-Type that says otherwise is
// refused), else the Content-Type, else what the body's shape says.
func manifestType(contentType string, doc oci.Document) (oci.MediaType, *apiError) {
	ct := oci.MediaType(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	if ct == "" || strings.Contains(string(ct), "octet-stream") {
		ct = ""
	}
	mt := doc.MediaType
	switch {
	case mt != "" && ct != "" && ct != mt:
		return "", errf(http.StatusBadRequest, "MANIFEST_INVALID", "the body's mediaType is %s, but Content-Type says %s", mt, ct)
	case mt == "" && ct != "":
		mt = ct
	case mt == "" && doc.Manifests != nil:
		mt = oci.MediaTypeIndex
	case mt == "" && doc.Config != nil:
		mt = oci.MediaTypeManifest
	}
	switch {
	case mt.IsIndex() && doc.Config != nil, mt.IsManifest() && doc.Manifests != nil:
		return "", errf(http.StatusBadRequest, "MANIFEST_INVALID", "a %s with the fields of another kind (config and manifests)", mt)
	case mt.IsManifest() && doc.Config == nil:
		return "", errf(http.StatusBadRequest, "MANIFEST_INVALID", "the manifest has no config")
	case !mt.IsIndex() && !mt.IsManifest():
		return "", errf(http.StatusBadRequest, "MANIFEST_INVALID", "media type %q is neither an image manifest nor an index", mt)
	}
	return mt, nil
}

// checkChildren requires every manifest an index names to be in repo, with
// the size the index gives: a client reading the index there must find them.
func (g *Registry) checkChildren(repo string, children []oci.Descriptor) *apiError {
	for _, d := range children {
		if oci.CheckRegistryDigest(d.Digest) != nil || g.st.resolve(repo, d.Digest) == "" {
			return errf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "the index names manifest %q, which is not in %s: push the platforms' manifests to this repository first", d.Digest, repo)
		}
		raw, _, err := g.st.manifest(repo, d.Digest)
		if err != nil {
			return errf(http.StatusInternalServerError, "UNKNOWN", "reading manifest %s: %v", d.Digest, err)
		}
		if int64(len(raw)) != d.Size {
			return errf(http.StatusBadRequest, "SIZE_INVALID", "the index gives manifest %s a size of %d bytes; it has %d", d.Digest, d.Size, len(raw))
		}
	}
	return nil
}

// checkBlobs requires every blob of an image manifest to be one the
// registry knows, with the size it knows, and present in the CAS. A
// manifest never teaches a size: a wrong one would make the CAS read fail,
// and buildbox-casd drops a blob read past its end, for every client.
func (g *Registry) checkBlobs(ctx context.Context, repo string, doc oci.Document) *apiError {
	var blobs []cas.Blob
	for _, d := range append([]oci.Descriptor{*doc.Config}, doc.Layers...) {
		if d.MediaType.IsNonDistributable() {
			continue
		}
		if oci.CheckRegistryDigest(d.Digest) != nil || d.Size < 0 {
			return errf(http.StatusBadRequest, "MANIFEST_INVALID", "descriptor %q with size %d", d.Digest, d.Size)
		}
		info, ok := g.st.blob(d.Digest)
		if !ok || g.st.blobDeleted(repo, d.Digest) {
			return errf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "blob %s is unknown in %s: upload it first, or announce it to the blob cache endpoint (IMG_BLOB_CACHE_ENDPOINT)", d.Digest, repo)
		}
		if info.size != d.Size {
			return errf(http.StatusBadRequest, "SIZE_INVALID", "the manifest gives blob %s a size of %d bytes; it has %d", d.Digest, d.Size, info.size)
		}
		blobs = append(blobs, info.casBlob(d.Digest))
	}
	if len(blobs) == 0 {
		return nil
	}
	missing, err := g.blobs.Missing(ctx, blobs)
	if err != nil {
		return errf(http.StatusServiceUnavailable, "UNAVAILABLE", "%v", err)
	}
	if len(missing) > 0 {
		var names []string
		for _, b := range missing {
			names = append(names, fmt.Sprintf("%s (%d bytes)", b.Digest, b.Size))
		}
		return errf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "the CAS %s lacks %s: upload them first (a push uploads what the blob cache endpoint reports missing)", g.blobs, strings.Join(names, ", "))
	}
	return nil
}

// maxDepth bounds JSON nesting; manifests nest four levels.
const maxDepth = 64

// checkUniqueKeys refuses JSON in which an object repeats a key: parsers
// disagree on which one wins, so two readers could see two manifests
// under one digest.
func checkUniqueKeys(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var walk func(depth int) error
	walk = func(depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("nested deeper than %d levels", maxDepth)
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if seen[key] {
					return fmt.Errorf("key %q appears twice in one object", key)
				}
				seen[key] = true
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for dec.More() {
				if err := walk(depth + 1); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		}
		return nil
	}
	if err := walk(0); err != nil {
		return fmt.Errorf("not valid JSON: %v", err)
	}
	return nil
}

// created answers 201 for a blob or manifest now at location.
func created(w http.ResponseWriter, location, digest string) {
	w.Header().Set("Location", location)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (g *Registry) tagList(w http.ResponseWriter, r *http.Request, repo string) *apiError {
	if r.Method != http.MethodGet {
		return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of a tag list is not supported", r.Method)
	}
	tags, ok := g.st.tags(repo)
	if !ok {
		return errf(http.StatusNotFound, "NAME_UNKNOWN", "repository %s is not in this registry", repo)
	}
	// ?last= starts after a tag, with or without ?n= to bound the page.
	q := r.URL.Query()
	n, err := strconv.Atoi(q.Get("n"))
	if err != nil || n < 0 {
		n = len(tags)
	}
	last := q.Get("last")
	page := []string{}
	for _, t := range tags {
		if t > last && len(page) < n {
			page = append(page, t)
		}
	}
	tags = page
	w.Header().Set("Content-Type", "application/json")
	return writeJSON(w, map[string]any{"name": repo, "tags": tags})
}

func writeJSON(w http.ResponseWriter, v any) *apiError {
	b, err := json.Marshal(v)
	if err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	w.Write(b)
	return nil
}
