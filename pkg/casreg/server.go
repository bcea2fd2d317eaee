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
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
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
	log   *log.Logger

	// Counters for logs and tests.
	BlobsServed, BlobBytesServed, BlobsUploaded, BlobBytesUploaded atomic.Int64
}

// New opens the data directory dir (created when missing).
func New(blobs Blobs, dir string, logger *log.Logger) (*Registry, error) {
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	return &Registry{blobs: blobs, st: st, log: logger}, nil
}

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
	if err := g.route(w, r); err != nil {
		if err.status >= 500 {
			g.log.Printf("%s %s: %s", r.Method, r.URL.Path, err.message)
		}
		writeErr(w, r, err)
	}
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
	for _, k := range []string{"/blobs/uploads/", "/blobs/uploads", "/blobs/", "/manifests/", "/tags/list"} {
		if i := strings.LastIndex(rest, k); i > at {
			kind, at = k, i
		}
	}
	if at > 0 {
		repo, arg := rest[:at], rest[at+len(kind):]
		if err := registry.CheckRepository(repo); err != nil {
			return errf(http.StatusBadRequest, "NAME_INVALID", "%v", err)
		}
		switch kind {
		case "/blobs/uploads/", "/blobs/uploads":
			return g.upload(w, r, repo, arg)
		case "/blobs/":
			return g.blob(w, r, arg)
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
	if err := oci.CheckDigest(d); err != nil {
		return errf(http.StatusBadRequest, "DIGEST_INVALID", "%v", err)
	}
	return nil
}

// blob serves GET and HEAD of a blob from the CAS.
func (g *Registry) blob(w http.ResponseWriter, r *http.Request, digest string) *apiError {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of a blob is not supported", r.Method)
	}
	if err := checkDigest(digest); err != nil {
		return err
	}
	size, ok := g.st.size(digest)
	if !ok {
		return errf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s unknown to this registry: it knows the blobs of manifests pushed here, blobs uploaded here and those announced to its blob cache endpoint", digest)
	}
	gone := func() *apiError {
		return errf(http.StatusNotFound, "BLOB_UNKNOWN", "blob %s (%d bytes) is not in the CAS %s: it was evicted, or never stored; rebuild and push the image again", digest, size, g.blobs)
	}
	if r.Method == http.MethodHead {
		missing, err := g.blobs.Missing(r.Context(), []cas.Blob{{Digest: digest, Size: size}})
		if err != nil {
			return errf(http.StatusServiceUnavailable, "UNAVAILABLE", "%v", err)
		}
		if len(missing) > 0 {
			return gone()
		}
		blobHeaders(w, digest, size)
		return nil
	}
	rc, err := g.blobs.Open(r.Context(), digest, size)
	if errors.Is(err, cas.ErrNotFound) {
		return gone()
	}
	if err != nil {
		return errf(http.StatusServiceUnavailable, "UNAVAILABLE", "%v", err)
	}
	defer rc.Close()
	blobHeaders(w, digest, size)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), rc)
	g.BlobBytesServed.Add(n)
	if err == nil && "sha256:"+hex.EncodeToString(h.Sum(nil)) != digest {
		err = fmt.Errorf("the CAS returned bytes that hash to something else")
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

func blobHeaders(w http.ResponseWriter, digest string, size int64) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("Docker-Content-Digest", digest)
}

// present reports whether the CAS has a blob this registry knows the size of.
func (g *Registry) present(ctx context.Context, digest string) (bool, *apiError) {
	size, ok := g.st.size(digest)
	if !ok {
		return false, nil
	}
	missing, err := g.blobs.Missing(ctx, []cas.Blob{{Digest: digest, Size: size}})
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
			if _, aerr := appendBody(g.st.uploadPath(id), r.Body); aerr != nil {
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
		return errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload session %s: it was finished, cancelled or never started", id)
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		setRange(w, fi.Size())
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		os.Remove(path)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodPatch:
		n, aerr := appendBody(path, r.Body)
		if aerr != nil {
			return aerr
		}
		return uploadAccepted(w, repo, id, n)
	case http.MethodPut:
		if _, aerr := appendBody(path, r.Body); aerr != nil {
			return aerr
		}
		return g.finish(w, r, repo, id, q.Get("digest"))
	}
	return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of an upload is not supported", r.Method)
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
func appendBody(path string, body io.Reader) (int64, *apiError) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload session gone: %v", err)
	}
	defer f.Close()
	if _, err := io.Copy(f, body); err != nil {
		return 0, errf(http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "reading the upload: %v", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	return fi.Size(), nil
}

// finish checks an upload against its digest and writes it to the blob
// store; the session ends either way.
func (g *Registry) finish(w http.ResponseWriter, r *http.Request, repo, id, digest string) *apiError {
	path := g.st.uploadPath(id)
	defer os.Remove(path)
	if err := checkDigest(digest); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return errf(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "upload session gone: %v", err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return errf(http.StatusBadRequest, "DIGEST_INVALID", "the uploaded %d bytes hash to %s, not %s", size, got, digest)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	if err := g.blobs.Write(r.Context(), digest, size, f); err != nil {
		return errf(http.StatusServiceUnavailable, "UNAVAILABLE", "storing %s in %s: %v", digest, g.blobs, err)
	}
	if err := g.st.setSize(digest, size); err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
	}
	g.BlobsUploaded.Add(1)
	g.BlobBytesUploaded.Add(size)
	g.log.Printf("blob %s (%d bytes) uploaded to %s", digest, size, repo)
	created(w, "/v2/"+repo+"/blobs/"+digest, digest)
	return nil
}

// manifests serves GET, HEAD and PUT of manifests by tag or digest.
func (g *Registry) manifests(w http.ResponseWriter, r *http.Request, repo, ref string) *apiError {
	byDigest := strings.HasPrefix(ref, "sha256:")
	if byDigest {
		if err := checkDigest(ref); err != nil {
			return err
		}
	} else if err := registry.CheckTag(ref); err != nil {
		return errf(http.StatusBadRequest, "TAG_INVALID", "%v", err)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		digest := g.st.resolve(repo, ref)
		if digest == "" {
			return errf(http.StatusNotFound, "MANIFEST_UNKNOWN", "%s:%s is not in this registry", repo, ref)
		}
		raw, mt, err := g.st.manifest(digest)
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
	}
	return errf(http.StatusMethodNotAllowed, "UNSUPPORTED", "%s of a manifest is not supported", r.Method)
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
	if byDigest && ref != digest {
		return errf(http.StatusBadRequest, "DIGEST_INVALID", "the manifest hashes to %s, not %s", digest, ref)
	}
	var doc oci.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return errf(http.StatusBadRequest, "MANIFEST_INVALID", "not JSON: %v", err)
	}
	mt := oci.MediaType(r.Header.Get("Content-Type"))
	if mt == "" || strings.Contains(string(mt), "octet-stream") {
		mt = doc.MediaType
	}
	var blobs []cas.Blob
	switch {
	case mt.IsIndex() || (mt == "" && doc.Manifests != nil):
		for _, d := range doc.Manifests {
			if oci.CheckDigest(d.Digest) != nil || !g.st.hasManifest(d.Digest) {
				return errf(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", "the index names manifest %s, which was not pushed here: push the platforms' manifests first", d.Digest)
			}
		}
		if mt == "" {
			mt = oci.MediaTypeIndex
		}
	case mt.IsManifest() || (mt == "" && doc.Config != nil):
		if doc.Config == nil {
			return errf(http.StatusBadRequest, "MANIFEST_INVALID", "the manifest has no config")
		}
		for _, d := range append([]oci.Descriptor{*doc.Config}, doc.Layers...) {
			if d.MediaType.IsNonDistributable() {
				continue
			}
			if oci.CheckDigest(d.Digest) != nil || d.Size < 0 {
				return errf(http.StatusBadRequest, "MANIFEST_INVALID", "descriptor %q with size %d", d.Digest, d.Size)
			}
			blobs = append(blobs, cas.Blob{Digest: d.Digest, Size: d.Size})
		}
		if mt == "" {
			mt = oci.MediaTypeManifest
		}
	default:
		return errf(http.StatusBadRequest, "MANIFEST_INVALID", "media type %q is neither an image manifest nor an index", mt)
	}
	if len(blobs) > 0 {
		missing, err := g.blobs.Missing(r.Context(), blobs)
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
		for _, b := range blobs {
			if err := g.st.setSize(b.Digest, b.Size); err != nil {
				return errf(http.StatusInternalServerError, "UNKNOWN", "%v", err)
			}
		}
	}
	tag := ""
	if !byDigest {
		tag = ref
	}
	if err := g.st.putManifest(repo, tag, digest, mt, raw); err != nil {
		return errf(http.StatusInternalServerError, "UNKNOWN", "storing manifest %s: %v", digest, err)
	}
	if tag != "" {
		g.log.Printf("%s:%s -> %s", repo, tag, digest)
	}
	created(w, "/v2/"+repo+"/manifests/"+digest, digest)
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
	if n, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && n >= 0 {
		last := r.URL.Query().Get("last")
		var page []string
		for _, t := range tags {
			if t > last && len(page) < n {
				page = append(page, t)
			}
		}
		tags = page
	}
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
