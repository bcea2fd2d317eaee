package harness

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// A fake registry: basic auth on /v2/, a manifest, a blob, and an upload
// session whose Location is an absolute URL built from the Host header, as
// Distribution builds it.
func fakeRegistry(t *testing.T) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Host", r.Host)
		w.Header().Set("X-Seen-Body", strconv.Itoa(len(body)))
		switch {
		case r.URL.Path == "/v2/":
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="e2e"`)
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"errors":[]}`)
				return
			}
			io.WriteString(w, "{}")
		case r.URL.Path == "/v2/org/repo/manifests/v1":
			io.WriteString(w, strings.Repeat("m", 100))
		case r.URL.Path == "/v2/org/repo/blobs/sha256:aaa":
			w.Header().Set("Content-Length", "1000")
			if r.Method != http.MethodHead {
				io.WriteString(w, strings.Repeat("b", 1000))
			}
		case r.URL.Path == "/v2/org/repo/blobs/uploads/" && r.Method == http.MethodPost:
			w.Header().Set("Location", "http://"+r.Host+"/v2/org/repo/blobs/uploads/u1?_state=x")
			w.WriteHeader(http.StatusAccepted)
		case r.URL.Path == "/v2/org/repo/blobs/uploads/u1" && r.Method == http.MethodPatch:
			w.Header().Set("Location", "http://"+r.Host+"/v2/org/repo/blobs/uploads/u1?_state=y")
			w.WriteHeader(http.StatusAccepted)
		case r.URL.Path == "/v2/org/repo/blobs/uploads/u1" && r.Method == http.MethodPut:
			w.WriteHeader(http.StatusCreated)
		case r.URL.Path == "/redirect":
			// A backend that names itself absolutely (not from Host).
			w.Header().Set("Location", "http://"+r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()+"/v2/")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default:
			http.NotFound(w, r)
		}
	}))
}

func TestProxyCountsAndForwards(t *testing.T) {
	backend := fakeRegistry(t)
	defer backend.Close()
	p, err := StartProxy(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	base := "http://" + p.Addr()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	do := func(method, path, auth, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body == "" {
			req.Body = nil
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// Auth challenge and credentials pass through.
	if resp := do("GET", "/v2/", "", ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="e2e"` {
		t.Errorf("anonymous /v2/: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := do("GET", "/v2/", "Basic dTpw", ""); resp.StatusCode != 200 {
		t.Errorf("/v2/ with auth: %d", resp.StatusCode)
	}
	do("GET", "/v2/org/repo/manifests/v1", "", "")
	resp := do("GET", "/v2/org/repo/blobs/sha256:aaa", "", "")
	if got := resp.Header.Get("X-Seen-Host"); got != p.Addr() {
		t.Errorf("backend saw Host %q, want the proxy's %q", got, p.Addr())
	}
	do("HEAD", "/v2/org/repo/blobs/sha256:aaa", "", "")

	// An upload: its Location points back at the proxy; its bytes count in
	// and are credited to the digest the PUT names.
	resp = do("POST", "/v2/org/repo/blobs/uploads/", "", "")
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, base+"/v2/org/repo/blobs/uploads/u1") {
		t.Errorf("upload Location %q does not point at the proxy %s", loc, base)
	}
	if resp = do("PATCH", "/v2/org/repo/blobs/uploads/u1?_state=x", "", strings.Repeat("u", 300)); resp.Header.Get("X-Seen-Body") != "300" {
		t.Errorf("backend got %s body bytes of the PATCH, want 300", resp.Header.Get("X-Seen-Body"))
	}
	do("PUT", "/v2/org/repo/blobs/uploads/u1?_state=y&digest=sha256:ddd", "", strings.Repeat("u", 50))

	// A Location naming the backend itself is rewritten to the proxy.
	if loc := do("GET", "/redirect", "", "").Header.Get("Location"); loc != base+"/v2/" {
		t.Errorf("redirect Location %q, want %s/v2/", loc, base)
	}

	s := p.Stats()
	t.Log(s)
	if want := (Counts{Requests: 1, BytesOut: 100}); s.Manifests != want {
		t.Errorf("manifests = %+v, want %+v", s.Manifests, want)
	}
	if want := (Counts{Requests: 5, BytesIn: 350, BytesOut: 1000}); s.Blobs != want {
		t.Errorf("blobs = %+v, want %+v", s.Blobs, want)
	}
	if s.Other.Requests != 3 || s.Other.BytesOut != int64(len(`{"errors":[]}`)+len("{}")) || s.Other.BytesIn != 0 {
		t.Errorf("other = %+v", s.Other)
	}
	if s.BlobBytesOut["sha256:aaa"] != 1000 || len(s.BlobBytesOut) != 1 {
		t.Errorf("blob bytes out = %v", s.BlobBytesOut)
	}
	if s.BlobBytesIn["sha256:ddd"] != 350 || len(s.BlobBytesIn) != 1 {
		t.Errorf("blob bytes in = %v", s.BlobBytesIn)
	}
	if tot := s.Total(); tot.Requests != 9 || tot.BytesIn != 350 {
		t.Errorf("total = %+v", tot)
	}
	if len(s.Requests) != 9 || s.Requests[3].Digest != "sha256:aaa" || s.Requests[3].Status != 200 || s.Requests[7].Status != 201 {
		t.Errorf("requests = %+v", s.Requests)
	}

	p.Reset()
	if s := p.Stats(); s.Total() != (Counts{}) || len(s.Requests) != 0 || len(s.BlobBytesOut) != 0 {
		t.Errorf("after Reset: %+v", s)
	}
}

func TestClassify(t *testing.T) {
	for path, want := range map[string]Category{
		"/v2/":                                Other,
		"/v2/_catalog":                        Other,
		"/v2/a/b/c/tags/list":                 Other,
		"/v2/a/blobs/b/manifests/latest":      Manifests,
		"/v2/a/b/manifests/sha256:1":          Manifests,
		"/v2/a/b/blobs/sha256:1":              Blobs,
		"/v2/a/b/blobs/uploads/":              Blobs,
		"/v2/a/b/blobs/uploads/1234-abcd":     Blobs,
		"/v2/a/manifests/x/blobs/sha256:feed": Blobs,
	} {
		if got, _, _, _ := classify(path); got != want {
			t.Errorf("classify(%s) = %s, want %s", path, got, want)
		}
	}
}
