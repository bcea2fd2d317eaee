package pull

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/rules-img/rules_img/pkg/auth"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"
)

func init() {
	registry.PullPolicy.FirstBackoff = time.Millisecond
}

// testRegistry is an in-process registry that records every request path.
type testRegistry struct {
	srv  *httptest.Server
	host string
	// intercept, if set, may answer a request itself (return true).
	intercept func(w http.ResponseWriter, r *http.Request) bool

	mu    sync.Mutex
	paths []string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.paths = append(tr.paths, r.Method+" "+r.URL.Path)
		intercept := tr.intercept
		tr.mu.Unlock()
		if intercept != nil && intercept(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

func (tr *testRegistry) requests() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.paths...)
}

func (tr *testRegistry) reset() {
	tr.mu.Lock()
	tr.paths = nil
	tr.mu.Unlock()
}

func (tr *testRegistry) ref(t *testing.T, repo string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(tr.host + "/" + repo + ":latest")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// platformImage is a random image whose config names its platform.
func platformImage(t *testing.T, os, arch, variant string) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = os, arch, variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// pushIndex pushes a two-platform index plus an attestation manifest.
func pushIndex(t *testing.T, tr *testRegistry, repo string) (v1.ImageIndex, v1.Image, v1.Image, v1.Image) {
	t.Helper()
	amd := platformImage(t, "linux", "amd64", "")
	arm := platformImage(t, "linux", "arm64", "v8")
	att := platformImage(t, "unknown", "unknown", "")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
		}},
	)
	if err := remote.WriteIndex(tr.ref(t, repo), idx); err != nil {
		t.Fatal(err)
	}
	tr.reset()
	return idx, amd, arm, att
}

func readImageJSON(t *testing.T, dir string) Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	var img Record
	if err := json.Unmarshal(b, &img); err != nil {
		t.Fatal(err)
	}
	return img
}

// checkBlobFile asserts that dir/rel holds content with the given digest.
func checkBlobFile(t *testing.T, dir, rel, digest string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		t.Errorf("%s has digest %s, want %s", rel, got, digest)
	}
	if rel != blobPath(digest) {
		t.Errorf("path %s, want %s", rel, blobPath(digest))
	}
}

func TestPullIndexShallow(t *testing.T) {
	tr := newTestRegistry(t)
	idx, amd, arm, att := pushIndex(t, tr, "base")
	out := t.TempDir()
	pulled, err := Pull(context.Background(), Options{
		Registry: tr.host, Repository: "base", Digest: digestOf(t, idx), Tag: "v1", OutDir: out, Name: "base_repo",
	})
	if err != nil {
		t.Fatal(err)
	}

	// Nothing but manifests and configs went over the wire.
	var layers []string
	for _, img := range []v1.Image{amd, arm, att} {
		layers = append(layers, layerDigests(t, img)...)
	}
	attDigest := digestOf(t, att)
	for _, r := range tr.requests() {
		for _, l := range layers {
			if strings.Contains(r, l) {
				t.Errorf("shallow pull fetched layer blob: %s", r)
			}
		}
		if strings.Contains(r, attDigest) {
			t.Errorf("attestation manifest fetched: %s", r)
		}
	}

	img := readImageJSON(t, out)
	if img.Registry != tr.host || img.Repository != "base" || img.Tag != "v1" || img.Digest != digestOf(t, idx) || img.MediaType != oci.MediaType(types.OCIImageIndex) {
		t.Errorf("image.json header: %+v", img)
	}
	checkBlobFile(t, out, img.Root, img.Digest)
	if len(img.Manifests) != 2 {
		t.Fatalf("got %d manifests, want 2 (attestation skipped)", len(img.Manifests))
	}
	wantPlatforms := []ImagePlatform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}
	for i, want := range []v1.Image{amd, arm} {
		pm := img.Manifests[i]
		if pm.Platform != wantPlatforms[i] {
			t.Errorf("manifest %d platform %+v, want %+v", i, pm.Platform, wantPlatforms[i])
		}
		if pm.Digest != digestOf(t, want) {
			t.Errorf("manifest %d digest %s, want %s", i, pm.Digest, digestOf(t, want))
		}
		checkBlobFile(t, out, pm.Manifest, pm.Digest)
		cfgName, _ := want.ConfigName()
		checkBlobFile(t, out, pm.Config, cfgName.String())
		cf, _ := want.ConfigFile()
		wantLayers := layerDigests(t, want)
		if len(pm.Layers) != len(wantLayers) {
			t.Fatalf("manifest %d: %d layers, want %d", i, len(pm.Layers), len(wantLayers))
		}
		m, _ := want.Manifest()
		for j, l := range pm.Layers {
			if l.Digest != wantLayers[j] || l.Blob != "" {
				t.Errorf("layer %d: %+v", j, l)
			}
			meta, err := oci.ReadLayerMetadata(filepath.Join(out, l.Metadata))
			if err != nil {
				t.Fatal(err)
			}
			want := oci.LayerMetadata{
				MediaType: oci.MediaType(m.Layers[j].MediaType), Digest: wantLayers[j], Size: m.Layers[j].Size,
				DiffID: cf.RootFS.DiffIDs[j].String(), Source: &oci.BlobSource{Registry: tr.host, Repository: "base"},
			}
			if meta.MediaType != want.MediaType || meta.Digest != want.Digest || meta.Size != want.Size || meta.DiffID != want.DiffID || *meta.Source != *want.Source {
				t.Errorf("layer metadata %+v, want %+v", meta, want)
			}
			if _, err := os.Stat(filepath.Join(out, blobPath(l.Digest))); err == nil {
				t.Errorf("shallow pull wrote layer blob %s", l.Digest)
			}
		}
	}
	if pulled.Layers != 6 || pulled.LayersDownloaded != 0 || pulled.BytesTransferred <= 0 {
		t.Errorf("Pulled = %+v", pulled)
	}
	// image.json has the keys the repository rule reads.
	raw, _ := os.ReadFile(filepath.Join(out, "image.json"))
	for _, k := range []string{`"root":"blobs/sha256/`, `"platform":{"os":"linux","architecture":"amd64","variant":""}`, `"metadata":"layers/`} {
		if !bytes.Contains(raw, []byte(k)) {
			t.Errorf("image.json lacks %s: %s", k, raw)
		}
	}
}

func TestPullEager(t *testing.T) {
	tr := newTestRegistry(t)
	img := platformImage(t, "linux", "arm64", "v8")
	if err := remote.Write(tr.ref(t, "single"), img); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var progress bytes.Buffer
	pulled, err := Pull(context.Background(), Options{
		Registry: tr.host, Repository: "single", Digest: digestOf(t, img), OutDir: out, Eager: true, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := readImageJSON(t, out)
	if got.MediaType != oci.MediaType(types.DockerManifestSchema2) || len(got.Manifests) != 1 {
		t.Fatalf("image.json: %+v", got)
	}
	pm := got.Manifests[0]
	if pm.Platform != (ImagePlatform{OS: "linux", Architecture: "arm64", Variant: "v8"}) {
		t.Errorf("platform from config: %+v", pm.Platform)
	}
	if pm.Manifest != got.Root || pm.Digest != got.Digest {
		t.Errorf("single manifest entry %+v should be the root %s", pm, got.Root)
	}
	for _, l := range pm.Layers {
		if l.Blob == "" {
			t.Fatalf("eager layer without blob: %+v", l)
		}
		checkBlobFile(t, out, l.Blob, l.Digest)
	}
	if pulled.LayersDownloaded != 3 {
		t.Errorf("Pulled = %+v", pulled)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "blobs", "sha256", "*.partial")); len(m) > 0 {
		t.Errorf("partial files left: %v", m)
	}
}

func TestPullDigestMismatch(t *testing.T) {
	tr := newTestRegistry(t)
	img := platformImage(t, "linux", "amd64", "")
	if err := remote.Write(tr.ref(t, "bad"), img); err != nil {
		t.Fatal(err)
	}
	cfgName, _ := img.ConfigName()
	raw, _ := img.RawConfigFile()
	tampered := bytes.Replace(raw, []byte(`"amd64"`), []byte(`"arm64"`), 1)
	tr.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/bad/blobs/"+cfgName.String() {
			w.Write(tampered)
			return true
		}
		return false
	}
	_, err := Pull(context.Background(), Options{Registry: tr.host, Repository: "bad", Digest: digestOf(t, img), OutDir: t.TempDir()})
	var dm *DigestMismatchError
	if !errors.As(err, &dm) {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
	imagetest.WantErr(t, err, tr.host+"/bad@"+digestOf(t, img), cfgName.String(), oci.Digest(tampered), "digest mismatch")
}

func TestPullNotFound(t *testing.T) {
	tr := newTestRegistry(t)
	missing := "sha256:" + strings.Repeat("ab", 32)
	_, err := Pull(context.Background(), Options{Registry: tr.host, Repository: "nope", Digest: missing, OutDir: t.TempDir(), Name: "my_base"})
	imagetest.WantErr(t, err, "my_base", tr.host+"/nope@"+missing, "not found", "check repository and digest")
}

func TestPullRejectsBadInput(t *testing.T) {
	_, err := Pull(context.Background(), Options{Registry: "r", Repository: "x", OutDir: t.TempDir(), Tag: "v1"})
	imagetest.WantErr(t, err, "digest is required")
	_, err = Pull(context.Background(), Options{Registry: "r", Repository: "x", OutDir: t.TempDir(), Digest: "sha256:abc"})
	imagetest.WantErr(t, err, "not sha256:<64")
}

func TestPullByTag(t *testing.T) {
	tr := newTestRegistry(t)
	img := platformImage(t, "linux", "amd64", "")
	if err := remote.Write(tr.ref(t, "tagged"), img); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	p, err := Pull(context.Background(), Options{Registry: tr.host, Repository: "tagged", Tag: "latest", AllowTagOnly: true, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if p.Record.Digest != digestOf(t, img) {
		t.Errorf("resolved %s, want %s", p.Record.Digest, digestOf(t, img))
	}
}

func TestRetriesServerErrors(t *testing.T) {
	tr := newTestRegistry(t)
	img := platformImage(t, "linux", "amd64", "")
	if err := remote.Write(tr.ref(t, "flaky"), img); err != nil {
		t.Fatal(err)
	}
	var fails int
	tr.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") && fails < 2 {
			fails++
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	if _, err := Pull(context.Background(), Options{Registry: tr.host, Repository: "flaky", Digest: digestOf(t, img), OutDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}

	// Rate limited for good: one clear message.
	tr.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/manifests/") {
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`))
			return true
		}
		return false
	}
	_, err := Pull(context.Background(), Options{Registry: tr.host, Repository: "flaky", Digest: digestOf(t, img), OutDir: t.TempDir()})
	imagetest.WantErr(t, err, "rate limiting", "retry later", "slow down")
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there now
	_, err := Pull(context.Background(), Options{Registry: host, Repository: "x", Digest: "sha256:" + strings.Repeat("0", 64), OutDir: t.TempDir()})
	imagetest.WantErr(t, err, "cannot connect to "+host, "connection refused")
}

func TestTLSError(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	// Dial the server under a name that is not loopback, so that no
	// plain-HTTP fallback hides the certificate problem.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	host := "registry.test:" + port
	dt := http.DefaultTransport.(*http.Transport)
	old := dt.DialContext
	dt.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return old(ctx, network, srv.Listener.Addr().String())
	}
	defer func() { dt.DialContext = old }()
	_, err := Pull(context.Background(), Options{Registry: host, Repository: "x", Digest: "sha256:" + strings.Repeat("0", 64), OutDir: t.TempDir()})
	imagetest.WantErr(t, err, "TLS error talking to "+host, "certificate", "insecure = True")

	// insecure skips verification: now the (empty) registry answers 404.
	_, err = Pull(context.Background(), Options{Registry: host, Repository: "x", Digest: "sha256:" + strings.Repeat("0", 64), OutDir: t.TempDir(), Insecure: true})
	imagetest.WantErr(t, err, "not found")
}

// basicAuth demands user:pass on every request, like a small private
// registry.
func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestPullWithBasicAuth(t *testing.T) {
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(basicAuth(reg, "alice", "s3cret"))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := platformImage(t, "linux", "amd64", "")
	// Push straight to the handler, past the auth wrapper.
	plain := httptest.NewServer(reg)
	defer plain.Close()
	ref, _ := name.ParseReference(strings.TrimPrefix(plain.URL, "http://") + "/private:latest")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	creds := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	os.WriteFile(cfg, []byte(`{"auths":{"http://`+host+`":{"auth":"`+creds+`"}}}`), 0o600)
	kc, err := auth.New(auth.Options{DockerConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Registry: host, Repository: "private", Digest: digestOf(t, img), OutDir: t.TempDir(), Keychain: kc, Eager: true}
	if _, err := Pull(context.Background(), opts); err != nil {
		t.Fatal(err)
	}

	// No credentials: one clear message, naming where credentials come from.
	opts.OutDir = t.TempDir()
	opts.Keychain = nil
	_, err = Pull(context.Background(), opts)
	imagetest.WantErr(t, err, "authentication failed for "+host, "docker_config_path", "credential_helper", host+"/private@")

	// Wrong password: same message, and the secret is not in it.
	os.WriteFile(cfg, []byte(`{"auths":{"`+host+`":{"username":"alice","password":"WRONGPASS"}}}`), 0o600)
	kc, _ = auth.New(auth.Options{DockerConfig: cfg})
	opts.Keychain = kc
	_, err = Pull(context.Background(), opts)
	imagetest.WantErr(t, err, "authentication failed", "auths entry")
	if strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestFetchBlob(t *testing.T) {
	tr := newTestRegistry(t)
	img := platformImage(t, "linux", "amd64", "")
	if err := remote.Write(tr.ref(t, "blobs"), img); err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	l := m.Layers[1]
	dst := filepath.Join(t.TempDir(), "layer.tar.gz")
	src := oci.BlobSource{Registry: tr.host, Repository: "blobs"}
	if err := FetchBlob(context.Background(), src, l.Digest.String(), l.Size, dst, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dst)
	if oci.Digest(b) != l.Digest.String() || int64(len(b)) != l.Size {
		t.Errorf("fetched blob has digest %s, size %d", oci.Digest(b), len(b))
	}

	// Wrong size: refused, nothing left behind.
	dst2 := filepath.Join(t.TempDir(), "x")
	err := FetchBlob(context.Background(), src, l.Digest.String(), l.Size+1, dst2, FetchOptions{})
	imagetest.WantErr(t, err, "referenced with size")
	if _, serr := os.Stat(dst2 + ".partial"); serr == nil {
		t.Error("partial file left behind")
	}
	// Corrupt content.
	tr.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/blobs/"+l.Digest.String()) {
			w.Write(make([]byte, l.Size))
			return true
		}
		return false
	}
	err = FetchBlob(context.Background(), src, l.Digest.String(), l.Size, dst2, FetchOptions{})
	imagetest.WantErr(t, err, "digest mismatch", l.Digest.String())
	if _, serr := os.Stat(dst2); serr == nil {
		t.Error("unverified blob written")
	}
}

func TestProgressLines(t *testing.T) {
	old := progressInterval
	progressInterval = 10 * time.Millisecond
	defer func() { progressInterval = old }()
	tr := newTestRegistry(t)
	blob := bytes.Repeat([]byte("x"), 3<<20)
	digest := oci.Digest(blob)
	tr.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+digest) {
			return false
		}
		// Slow enough for a few progress ticks.
		for i := 0; i < 3; i++ {
			w.Write(blob[i<<20 : (i+1)<<20])
			w.(http.Flusher).Flush()
			time.Sleep(30 * time.Millisecond)
		}
		return true
	}
	var buf bytes.Buffer
	dst := filepath.Join(t.TempDir(), "blob")
	err := FetchBlob(context.Background(), oci.BlobSource{Registry: tr.host, Repository: "slow"}, digest, int64(len(blob)), dst, FetchOptions{Name: "big", Progress: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "img fetch-blob big: ") || !strings.Contains(buf.String(), "/3.0 MiB") {
		t.Errorf("progress output %q", buf.String())
	}
}
