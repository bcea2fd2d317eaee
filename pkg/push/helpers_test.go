package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
)

func init() {
	registry.PushPolicy.FirstBackoff = time.Millisecond
	registry.PushPolicy.MaxBackoff = 5 * time.Millisecond
}

// testReg wraps ggcr's in-process registry. ggcr keeps blobs in one pool
// for all repositories and cannot mount, so this wrapper tracks which
// repository holds which blob and answers mounts like distribution does.
type testReg struct {
	srv   *httptest.Server
	host  string
	inner http.Handler // ggcr's registry, for faults that pass a request on
	// fault may answer a request itself (return true) to inject failures.
	fault func(w http.ResponseWriter, r *http.Request) bool

	mu       sync.Mutex
	has      map[string]bool // repo + "@" + digest
	log      []string        // "METHOD path", in arrival order
	uploaded atomic.Int64    // body bytes received by blob upload requests
}

func newTestReg(t *testing.T) *testReg {
	t.Helper()
	tr := &testReg{has: map[string]bool{}}
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	tr.inner = inner
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.log = append(tr.log, r.Method+" "+r.URL.Path)
		fault := tr.fault
		tr.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		tr.serve(inner, w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

func (tr *testReg) serve(inner http.Handler, w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/v2/")
	repo, blobPart, isBlob := strings.Cut(rest, "/blobs/")
	if !isBlob {
		inner.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	switch {
	case (r.Method == http.MethodHead || r.Method == http.MethodGet) && !strings.HasPrefix(blobPart, "uploads"):
		if !tr.holds(repo, blobPart) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`)
			return
		}
	case r.Method == http.MethodPost && q.Get("mount") != "":
		if tr.holds(q.Get("from"), q.Get("mount")) {
			tr.add(repo, q.Get("mount"))
			w.Header().Set("Location", "/v2/"+repo+"/blobs/"+q.Get("mount"))
			w.WriteHeader(http.StatusCreated)
			return
		}
		// Not there: ggcr ignores the parameters and opens a session.
	}
	if strings.HasPrefix(blobPart, "uploads") {
		r.Body = countingBody{r.Body, &tr.uploaded}
	}
	rec := &statusRecorder{ResponseWriter: w}
	inner.ServeHTTP(rec, r)
	if d := q.Get("digest"); d != "" && rec.status == http.StatusCreated {
		tr.add(repo, d)
	}
}

func (tr *testReg) holds(repo, digest string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.has[repo+"@"+digest]
}

func (tr *testReg) add(repo, digest string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.has[repo+"@"+digest] = true
}

func (tr *testReg) requests() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.log...)
}

func (tr *testReg) setFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	tr.mu.Lock()
	tr.fault = f
	tr.mu.Unlock()
}

func (tr *testReg) ref(t *testing.T, repo, ref string) name.Reference {
	t.Helper()
	sep := ":"
	if strings.HasPrefix(ref, "sha256:") {
		sep = "@"
	}
	r, err := name.ParseReference(tr.host + "/" + repo + sep + ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// dropConnection closes the connection without an answer, after reading
// part of the request body.
func dropConnection(w http.ResponseWriter, r *http.Request) {
	io.CopyN(io.Discard, r.Body, 100)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// uploadUnknown answers as distribution does for a session it no longer has.
func uploadUnknown(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}`)
}

// testBlob returns n deterministic pseudo-random bytes.
func testBlob(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// opens counts Opener calls per digest.
type opens struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *opens) count(d string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[d]
}

// bytesLayer makes an uncompressed layer served from memory.
func bytesLayer(b []byte, o *opens) image.Layer {
	d := oci.Digest(b)
	return image.Layer{
		MediaType: oci.MediaTypeLayer, Digest: d, Size: int64(len(b)), DiffID: d,
		Open: func(context.Context) (io.ReadCloser, error) {
			if o != nil {
				o.mu.Lock()
				if o.n == nil {
					o.n = map[string]int{}
				}
				o.n[d]++
				o.mu.Unlock()
			}
			return image.Verify(io.NopCloser(bytes.NewReader(b)), d, int64(len(b)), "test layer"), nil
		},
	}
}

// makeManifest builds a valid OCI manifest and config over layers.
func makeManifest(t *testing.T, p oci.Platform, layers ...image.Layer) image.Manifest {
	t.Helper()
	cfg := oci.ImageConfig{Architecture: p.Architecture, OS: p.OS, Variant: p.Variant, RootFS: oci.RootFS{Type: "layers", DiffIDs: []string{}}}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
	}
	cfgRaw := mustJSON(t, cfg)
	m := oci.Manifest{SchemaVersion: 2, MediaType: oci.MediaTypeManifest, Config: oci.DescriptorFor(oci.MediaTypeConfig, cfgRaw), Layers: []oci.Descriptor{}}
	for _, l := range layers {
		m.Layers = append(m.Layers, oci.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size})
	}
	raw := mustJSON(t, m)
	return image.Manifest{
		Raw: raw, Digest: oci.Digest(raw), MediaType: oci.MediaTypeManifest, Platform: p,
		Config: cfgRaw, ConfigDigest: oci.Digest(cfgRaw), ConfigMediaType: oci.MediaTypeConfig,
		Layers: layers,
	}
}

// makeIndex builds an OCI index over manifests.
func makeIndex(t *testing.T, ms ...image.Manifest) *image.Image {
	t.Helper()
	idx := oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex}
	for _, m := range ms {
		p := m.Platform
		idx.Manifests = append(idx.Manifests, oci.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Raw)), Platform: &p})
	}
	raw := mustJSON(t, idx)
	return &image.Image{Index: raw, IndexDigest: oci.Digest(raw), Manifests: ms}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordingReporter keeps every event.
type recordingReporter struct {
	mu     sync.Mutex
	events []BlobEvent
}

func (r *recordingReporter) Blob(ev BlobEvent) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recordingReporter) count(k EventKind) (n int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Kind == k {
			n++
			bytes += ev.Bytes
		}
	}
	return n, bytes
}
