package casreg

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/oci"
)

// memCAS stands in for the CAS in these protocol tests; e2e runs the
// registry on buildbox-casd.
type memCAS struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func (m *memCAS) String() string { return "mem" }

func (m *memCAS) Open(_ context.Context, digest string, size int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[digest]
	if !ok || int64(len(b)) != size {
		return nil, fmt.Errorf("%w: %s", cas.ErrNotFound, digest)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memCAS) Missing(_ context.Context, bs []cas.Blob) ([]cas.Blob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []cas.Blob
	for _, b := range bs {
		if d, ok := m.blobs[b.Digest]; !ok || int64(len(d)) != b.Size {
			out = append(out, b)
		}
	}
	return out, nil
}

func (m *memCAS) Write(_ context.Context, digest string, _ int64, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[digest] = b
	return nil
}

func serve(t *testing.T, blobs Blobs, dir string) (*Registry, string) {
	t.Helper()
	g, err := New(blobs, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	t.Cleanup(g.Close)
	return g, strings.TrimPrefix(srv.URL, "http://")
}

func TestPushPullRestart(t *testing.T) {
	mem := &memCAS{blobs: map[string][]byte{}}
	dir := t.TempDir()
	_, host := serve(t, mem, dir)
	img, err := random.Image(3000, 3)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	ref, _ := name.ParseReference(host+"/team/app:v1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	iref, _ := name.ParseReference(host+"/team/app:all", name.Insecure)
	if err := remote.WriteIndex(iref, idx); err != nil {
		t.Fatal(err)
	}
	// A new process on the same data directory serves the same images.
	_, host2 := serve(t, mem, dir)
	for _, tag := range []string{"v1", "all"} {
		r, _ := name.ParseReference(host2+"/team/app:"+tag, name.Insecure)
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatal(err)
		}
		if desc.MediaType.IsIndex() {
			ii, _ := desc.ImageIndex()
			err = validate.Index(ii)
		} else {
			i, _ := desc.Image()
			err = validate.Image(i)
		}
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
	}
	repo, _ := name.NewRepository(host2+"/team/app", name.Insecure)
	tags, err := remote.List(repo)
	if err != nil || strings.Join(tags, ",") != "all,v1" {
		t.Fatalf("tags %v, %v", tags, err)
	}
}

func TestRefusals(t *testing.T) {
	mem := &memCAS{blobs: map[string][]byte{}}
	_, host := serve(t, mem, t.TempDir())
	do := func(method, path, ctype string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+host+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	missing := oci.Digest([]byte("never uploaded"))
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":14},"layers":[]}`,
		oci.MediaTypeManifest, oci.MediaTypeConfig, missing)
	for _, c := range []struct {
		method, path, ctype, body string
		status                    int
		want                      string
	}{
		{"PUT", "/v2/a/manifests/v1", string(oci.MediaTypeManifest), m, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"PUT", "/v2/a/manifests/" + oci.Digest([]byte("x")), string(oci.MediaTypeManifest), m, 400, "DIGEST_INVALID"},
		{"PUT", "/v2/a/manifests/v1", string(oci.MediaTypeIndex), `{"schemaVersion":2,"manifests":[{"digest":"` + missing + `","size":3}]}`, 400, "the index names manifest"},
		{"GET", "/v2/a/blobs/" + missing, "", "", 404, "unknown to this registry"},
		{"GET", "/v2/../etc/manifests/v1", "", "", 400, "NAME_INVALID"},
		{"GET", "/v2/a/manifests/..%2fx", "", "", 400, "TAG_INVALID"},
		{"POST", "/v2/a/blobs/uploads/?digest=" + missing, "", "other bytes", 400, "DIGEST_INVALID"},
		{"PATCH", "/v2/a/blobs/uploads/nosuch", "", "x", 404, "BLOB_UPLOAD_UNKNOWN"},
		{"GET", "/v2/nosuch/tags/list", "", "", 404, "NAME_UNKNOWN"},
	} {
		status, body := do(c.method, c.path, c.ctype, []byte(c.body))
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: HTTP %d %s; want %d with %q", c.method, c.path, status, body, c.status, c.want)
		}
	}
	if len(mem.blobs) != 0 {
		t.Errorf("a refused upload reached the CAS: %v", mem.blobs)
	}
	// A monolithic upload (POST with the digest and the whole body).
	blob := []byte("one request")
	if status, body := do("POST", "/v2/a/blobs/uploads/?digest="+oci.Digest(blob), "application/octet-stream", blob); status != 201 {
		t.Fatalf("monolithic upload: HTTP %d %s", status, body)
	}
	if status, body := do("GET", "/v2/a/blobs/"+oci.Digest(blob), "", nil); status != 200 || body != string(blob) {
		t.Fatalf("GET of the uploaded blob: HTTP %d %q", status, body)
	}
}

// The blob cache endpoint learns sizes of blobs the CAS has, so the
// registry then serves them though no one uploaded them through it.
func TestBlobCacheTeachesSizes(t *testing.T) {
	data := []byte("built by bazel, stored in the CAS")
	d := oci.Digest(data)
	mem := &memCAS{blobs: map[string][]byte{d: data}}
	g, host := serve(t, mem, t.TempDir())
	get := func() int {
		resp, err := http.Get("http://" + host + "/v2/x/blobs/" + d)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 404 {
		t.Fatalf("an unannounced blob: HTTP %d, want 404", s)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := g.BlobCache("")
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	other := cas.Blob{Digest: oci.Digest([]byte("not there")), Size: 9}
	missing, err := cas.FindMissing(context.Background(), conn, "ignored", []cas.Blob{{Digest: d, Size: int64(len(data))}, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != other {
		t.Fatalf("missing %v, want only %v", missing, other)
	}
	if s := get(); s != 200 {
		t.Fatalf("an announced blob: HTTP %d, want 200", s)
	}
	// Evicted: a clear 404, and a HEAD says so too.
	delete(mem.blobs, d)
	resp, err := http.Get("http://" + host + "/v2/x/blobs/" + d)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "evicted") {
		t.Fatalf("evicted blob: HTTP %d %s", resp.StatusCode, b)
	}
}

// Pushes of one image into many repositories at once write the same
// manifest and blob sizes concurrently; each must succeed.
func TestConcurrentPushesOfOneImage(t *testing.T) {
	mem := &memCAS{blobs: map[string][]byte{}}
	_, host := serve(t, mem, t.TempDir())
	img, err := random.Image(2000, 2)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref, _ := name.ParseReference(fmt.Sprintf("%s/svc%d/app:v1", host, i), name.Insecure)
			errs[i] = remote.Write(ref, img)
		}()
	}
	wg.Wait()
	want, _ := img.Digest()
	for i, err := range errs {
		if err != nil {
			t.Errorf("push %d: %v", i, err)
			continue
		}
		// Each repository serves the whole image: its digest, and every
		// blob hashed on the way (validate reads them all).
		ref, _ := name.ParseReference(fmt.Sprintf("%s/svc%d/app:v1", host, i), name.Insecure)
		got, err := remote.Image(ref)
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
			continue
		}
		if d, _ := got.Digest(); d != want {
			t.Errorf("svc%d/app:v1 is %s, pushed %s", i, d, want)
		}
		if err := validate.Image(got); err != nil {
			t.Errorf("svc%d/app:v1: %v", i, err)
		}
	}
}
