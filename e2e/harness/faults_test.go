package harness

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// faultBackend is a registry stand-in: a 100 kB blob, an upload session that
// reports how many body bytes each PATCH delivered, manifests, and a
// Location naming the backend's own address (which the proxy rewrites).
func faultBackend(t *testing.T) (*httptest.Server, chan int64) {
	received := make(chan int64, 16)
	blob := bytes.Repeat([]byte("x"), 100_000)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/r/blobs/sha256:b":
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(blob))
		case r.URL.Path == "/v2/r/blobs/uploads/" && r.Method == http.MethodPost:
			w.Header().Set("Location", srv.URL+"/v2/r/blobs/uploads/u1")
			w.WriteHeader(http.StatusAccepted)
		case r.URL.Path == "/v2/r/blobs/uploads/u1" && r.Method == http.MethodPatch:
			// Streaming: answer the client's first chunk before it sends more.
			buf := make([]byte, 64<<10)
			var n int64
			for {
				k, err := r.Body.Read(buf)
				n += int64(k)
				if k > 0 && r.Header.Get("X-Echo-First") != "" && n == int64(k) {
					w.Header().Set("X-First", string(buf[:k]))
				}
				if err != nil {
					break
				}
			}
			received <- n
			w.WriteHeader(http.StatusAccepted)
		case strings.HasPrefix(r.URL.Path, "/v2/r/manifests/"):
			io.Copy(io.Discard, r.Body)
			if r.Method == http.MethodPut {
				w.WriteHeader(http.StatusCreated)
				return
			}
			io.WriteString(w, "{}")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, received
}

func TestFaultProxy503AndRewrite(t *testing.T) {
	backend, _ := faultBackend(t)
	p, err := StartFaultProxy(backend.URL, FaultOptions{Fail503Every: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	var codes []int
	for i := 0; i < 4; i++ {
		resp, err := http.Get("http://" + p.Addr() + "/v2/r/manifests/v1")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if want := []int{200, 503, 200, 503}; !equalInts(codes, want) {
		t.Errorf("statuses %v, want %v", codes, want)
	}
	if p.Requests() != 4 || p.Injected() != 2 {
		t.Errorf("Requests %d Injected %d, want 4 and 2; faults %v", p.Requests(), p.Injected(), p.Faults())
	}

	// SetOptions restarts the numbering; the Location names the proxy.
	p.SetOptions(FaultOptions{})
	resp, err := http.Post("http://"+p.Addr()+"/v2/r/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "http://"+p.Addr()+"/v2/r/blobs/uploads/u1" {
		t.Errorf("Location %q does not point at the proxy", loc)
	}
}

// MaxInARow spares a request that failed that often in a row; another
// request path is counted apart.
func TestFaultProxyMaxInARow(t *testing.T) {
	backend, _ := faultBackend(t)
	p, err := StartFaultProxy(backend.URL, FaultOptions{Fail503Every: 1, MaxInARow: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	get := func(path string) int {
		resp, err := http.Get("http://" + p.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	var codes []int
	for _, path := range []string{"/v2/r/manifests/v1", "/v2/r/manifests/v1", "/v2/r/manifests/v2", "/v2/r/manifests/v1", "/v2/r/manifests/v1",
		// Two upload sessions are one request to MaxInARow.
		"/v2/r/blobs/uploads/a", "/v2/r/blobs/uploads/b", "/v2/r/blobs/uploads/c"} {
		codes = append(codes, get(path))
	}
	if want := []int{503, 503, 503, 200, 503, 503, 503, 404}; !equalInts(codes, want) {
		t.Errorf("statuses %v, want %v", codes, want)
	}
}

func TestFaultProxyFailAll(t *testing.T) {
	backend, _ := faultBackend(t)
	p, err := StartFaultProxy(backend.URL, FaultOptions{FailAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPut, "/v2/r/manifests/v1", 500},
		{http.MethodPut, "/v2/r/manifests/sha256:abc", 201}, // by digest: passes
		{http.MethodGet, "/v2/r/manifests/v1", 200},
		{http.MethodPut, "/v2/r/manifests/latest", 500},
	} {
		req, _ := http.NewRequest(c.method, "http://"+p.Addr()+c.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, resp.StatusCode, c.want, body)
		}
	}
	if p.Injected() != 2 {
		t.Errorf("Injected %d, want 2", p.Injected())
	}
}

func TestFaultProxyStreamsAndDrops(t *testing.T) {
	backend, received := faultBackend(t)
	p, err := StartFaultProxy(backend.URL, FaultOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	url := "http://" + p.Addr()

	// A chunked upload passes whole, and streams: the backend has the first
	// chunk while the client still holds the rest back.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first"))
		select {
		case <-time.After(200 * time.Millisecond):
		}
		pw.Write(bytes.Repeat([]byte("y"), 50_000))
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPatch, url+"/v2/r/blobs/uploads/u1", pr)
	req.Header.Set("X-Echo-First", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := <-received; n != 50_005 || resp.StatusCode != 202 || resp.Header.Get("X-First") != "first" {
		t.Errorf("chunked upload: backend got %d bytes (first read %q), status %d", n, resp.Header.Get("X-First"), resp.StatusCode)
	}

	p.SetOptions(FaultOptions{DropEvery: 1})
	// Download: headers and part of the body, then EOF before Content-Length.
	resp, err = http.Get(url + "/v2/r/blobs/sha256:b")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) == 0 || len(got) >= 100_000 {
		t.Errorf("dropped download: %d bytes, err %v; want part of it and an error", len(got), err)
	}
	// A response without a body: no answer at all.
	if resp, err := http.Head(url + "/v2/r/blobs/sha256:b"); err == nil {
		resp.Body.Close()
		t.Errorf("dropped HEAD answered %d", resp.StatusCode)
	}
	// Upload, known length and chunked: part reaches the backend, the client
	// gets no answer.
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("z"), 100_000))
		if chunked {
			body = io.MultiReader(body) // hides the length
		}
		req, _ := http.NewRequest(http.MethodPatch, url+"/v2/r/blobs/uploads/u1", body)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("dropped upload (chunked %v) answered %d", chunked, resp.StatusCode)
		}
		select {
		case n := <-received:
			if n == 0 || n >= 100_000 {
				t.Errorf("dropped upload (chunked %v): backend got %d bytes, want part", chunked, n)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("dropped upload (chunked %v) never reached the backend", chunked)
		}
	}
	if p.Injected() != 4 {
		t.Errorf("Injected %d, want 4: %v", p.Injected(), p.Faults())
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Through a real registry: pushes pass (Locations rewritten, uploads
// streamed), FailAll stops tag writes, and drops break pulls. crane itself
// does not retry a failed final PUT of an upload, so faults there would fail
// it whatever the proxy does: none are injected during the push.
func TestFaultProxyRegistry(t *testing.T) {
	if _, err := os.Stat(CranePath()); err != nil {
		t.Skip("crane is not built; run tools/setup.sh")
	}
	reg, err := StartRegistry(RegistryOptions{})
	if err != nil {
		t.Skip(err)
	}
	defer reg.Stop()
	p, err := StartFaultProxy(reg.Addr(), FaultOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	layer := filepath.Join(t.TempDir(), "layer.tar")
	if err := writeRandomLayer(layer, 3<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := Crane("append", "--new_layer", layer, "--new_tag", p.Addr()+"/e2e/faulty:v1"); err != nil {
		t.Fatalf("push through the proxy: %v\n%s", err, out)
	}
	if out, err := Crane("validate", "--remote", reg.Addr()+"/e2e/faulty:v1"); err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}

	p.SetOptions(FaultOptions{FailAll: true})
	if out, err := Crane("tag", p.Addr()+"/e2e/faulty:v1", "v2"); err == nil || !strings.Contains(out, "tag writes fail") {
		t.Fatalf("tag write through FailAll: want our 500, got %v:\n%s", err, out)
	}
	if _, err := Crane("digest", reg.Addr()+"/e2e/faulty:v2"); err == nil {
		t.Error("v2 exists after a failed tag write")
	}

	p.SetOptions(FaultOptions{DropEvery: 1})
	if out, err := Crane("validate", "--remote", p.Addr()+"/e2e/faulty:v1"); err == nil {
		t.Errorf("pull with every request dropped succeeded:\n%s", out)
	}
	if p.Injected() < 2 {
		t.Errorf("Injected %d: %v", p.Injected(), p.Faults())
	}
}

func writeRandomLayer(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
	if _, err := io.CopyN(tw, rand.Reader, int64(size)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
