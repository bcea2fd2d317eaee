package push

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/pull"
	"github.com/rules-img/rules_img/pkg/registry"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"
)

var amd64 = oci.Platform{OS: "linux", Architecture: "amd64"}
var arm64 = oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}

// checkPushed reads the image back by digest and by tag and compares the
// raw bytes and every blob with what was built.
func checkPushed(t *testing.T, tr *testReg, repo, tag string, img *image.Image) {
	t.Helper()
	root := img.RootDigest()
	for _, ref := range []string{root, tag} {
		if ref == "" {
			continue
		}
		desc, err := remote.Get(tr.ref(t, repo, ref))
		if err != nil {
			t.Fatalf("get %s: %v", ref, err)
		}
		if desc.Digest.String() != root {
			t.Errorf("%s resolves to %s, want %s", ref, desc.Digest, root)
		}
		want := img.Index
		if !img.IsIndex() {
			want = img.Manifests[0].Raw
		}
		if !bytes.Equal(desc.Manifest, want) {
			t.Errorf("%s: registry holds different manifest bytes", ref)
		}
	}
	for _, m := range img.Manifests {
		ri, err := remote.Image(tr.ref(t, repo, m.Digest))
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := ri.Digest(); d.String() != m.Digest {
			t.Errorf("manifest digest %s, want %s", d, m.Digest)
		}
		if cfg, _ := ri.RawConfigFile(); !bytes.Equal(cfg, m.Config) {
			t.Errorf("config of %s differs", m.Digest)
		}
		ls, err := ri.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if oci.Digest(got) != m.Layers[i].Digest {
				t.Errorf("layer %d of %s has digest %s", i, m.Digest, oci.Digest(got))
			}
		}
	}
}

// index of the first request matching pred, and of the last.
func firstLast(reqs []string, pred func(string) bool) (first, last int) {
	first, last = -1, -1
	for i, r := range reqs {
		if pred(r) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

func isBlobWrite(r string) bool {
	return strings.Contains(r, "/blobs/uploads/") && !strings.HasPrefix(r, "POST ")
}

func TestPushSingleManifestAndRepush(t *testing.T) {
	tr := newTestReg(t)
	var o opens
	m := makeManifest(t, amd64, bytesLayer(testBlob(1, 3<<20), &o), bytesLayer(testBlob(2, 1000), &o))
	img := &image.Image{Manifests: []image.Manifest{m}}
	rep := &recordingReporter{}
	res, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Tags: []string{"v1", "latest"}, Progress: rep, Label: "//app:push"})
	if err != nil {
		t.Fatal(err)
	}
	want := int64(3<<20 + 1000 + len(m.Config))
	if res.Uploaded != 3 || res.Existing != 0 || res.Mounted != 0 || res.BytesUploaded != want {
		t.Errorf("result %+v, want 3 uploads of %d bytes", res, want)
	}
	if res.Digest != m.Digest || res.Reference != tr.host+"/team/app@"+m.Digest {
		t.Errorf("result digest %s, reference %s", res.Digest, res.Reference)
	}
	if len(res.Tags) != 2 || res.Tags[0] != tr.host+"/team/app:v1" {
		t.Errorf("tags %q", res.Tags)
	}
	if got := tr.uploaded.Load(); got != want {
		t.Errorf("registry received %d blob bytes, want %d", got, want)
	}
	if n, b := rep.count(Bytes); n == 0 || b != want {
		t.Errorf("progress reported %d bytes", b)
	}
	if n, _ := rep.count(Queued); n != 3 {
		t.Errorf("%d blobs queued", n)
	}
	if n, _ := rep.count(Done); n != 3 {
		t.Errorf("%d blobs done", n)
	}
	checkPushed(t, tr, "team/app", "v1", img)
	checkPushed(t, tr, "team/app", "latest", img)

	// Order: all blobs, then the manifest by digest, then the tags.
	reqs := tr.requests()
	_, lastBlob := firstLast(reqs, isBlobWrite)
	firstManifest, _ := firstLast(reqs, func(r string) bool { return strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/manifests/") })
	byDigest, _ := firstLast(reqs, func(r string) bool { return r == "PUT /v2/team/app/manifests/"+m.Digest })
	firstTag, _ := firstLast(reqs, func(r string) bool {
		return strings.HasPrefix(r, "PUT /v2/team/app/manifests/") && !strings.Contains(r, "sha256:")
	})
	if !(lastBlob < firstManifest && firstManifest == byDigest && byDigest < firstTag) {
		t.Errorf("wrong order: last blob write %d, manifest by digest %d, first tag %d\n%s", lastBlob, byDigest, firstTag, strings.Join(reqs, "\n"))
	}

	// Again: the tag names the image already, so one HEAD and nothing else.
	before, nreq := tr.uploaded.Load(), len(tr.requests())
	res, err = Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Tags: []string{"v1"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 0 || res.Existing != 3 || res.BytesUploaded != 0 || tr.uploaded.Load() != before {
		t.Errorf("re-push: %+v, %d bytes received", res, tr.uploaded.Load()-before)
	}
	if again := tr.requests()[nreq:]; len(again) != 2 || again[1] != "HEAD /v2/team/app/manifests/v1" {
		t.Errorf("re-push of a complete image sent %q, want the ping and one HEAD of the tag", again)
	}
	// A new tag: blobs are checked (HEADs), only the tag is written.
	res, err = Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Tags: []string{"v2"}})
	if err != nil || res.Uploaded != 0 || res.Existing != 3 {
		t.Fatalf("push of a new tag: %+v, %v", res, err)
	}
	checkPushed(t, tr, "team/app", "v2", img)
}

func TestPushIndexSharedLayer(t *testing.T) {
	tr := newTestReg(t)
	var o opens
	shared := bytesLayer(testBlob(10, 2<<20), &o)
	img := makeIndex(t,
		makeManifest(t, amd64, shared, bytesLayer(testBlob(11, 500), &o)),
		makeManifest(t, arm64, shared, bytesLayer(testBlob(12, 600), &o)),
	)
	res, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "multi", Tags: []string{"v2"}, Jobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 5 || res.Digest != img.IndexDigest {
		t.Errorf("result %+v, want 5 blobs (2 configs, 3 layers) and digest %s", res, img.IndexDigest)
	}
	if n := o.count(shared.Digest); n != 1 {
		t.Errorf("shared layer opened %d times", n)
	}
	checkPushed(t, tr, "multi", "v2", img)
	idx, err := remote.Index(tr.ref(t, "multi", "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d.String() != img.IndexDigest {
		t.Errorf("index digest %s", d)
	}

	reqs := tr.requests()
	_, lastBlob := firstLast(reqs, isBlobWrite)
	_, lastManifest := firstLast(reqs, func(r string) bool {
		return r == "PUT /v2/multi/manifests/"+img.Manifests[0].Digest || r == "PUT /v2/multi/manifests/"+img.Manifests[1].Digest
	})
	firstM, _ := firstLast(reqs, func(r string) bool { return strings.HasPrefix(r, "PUT /v2/multi/manifests/") })
	indexAt, _ := firstLast(reqs, func(r string) bool { return r == "PUT /v2/multi/manifests/"+img.IndexDigest })
	tagAt, _ := firstLast(reqs, func(r string) bool { return r == "PUT /v2/multi/manifests/v2" })
	if !(lastBlob < firstM && lastManifest < indexAt && indexAt < tagAt) {
		t.Errorf("wrong order: blobs until %d, manifests until %d, index %d, tag %d", lastBlob, lastManifest, indexAt, tagAt)
	}
}

// manifest_tags name each manifest of an index, after the index's tags; a
// repeat push of the same image finds them and writes nothing.
func TestPushManifestTags(t *testing.T) {
	tr := newTestReg(t)
	img := makeIndex(t,
		makeManifest(t, amd64, bytesLayer(testBlob(13, 300), nil)),
		makeManifest(t, arm64, bytesLayer(testBlob(14, 400), nil)),
	)
	opts := Options{Registry: tr.host, Repository: "multi", Tags: []string{"v3"}, ManifestTags: [][]string{{"v3-amd64"}, {"v3-arm64"}}}
	res, err := Push(context.Background(), img, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tags) != 3 {
		t.Errorf("tags %v, want the index's and one per manifest", res.Tags)
	}
	for i, tag := range []string{"v3-amd64", "v3-arm64"} {
		d, err := remote.Head(tr.ref(t, "multi", tag))
		if err != nil || d.Digest.String() != img.Manifests[i].Digest {
			t.Errorf("%s names %v (%v), want %s", tag, d, err, img.Manifests[i].Digest)
		}
	}
	reqs := tr.requests()
	indexTag, _ := firstLast(reqs, func(r string) bool { return r == "PUT /v2/multi/manifests/v3" })
	manifestTag, _ := firstLast(reqs, func(r string) bool { return r == "PUT /v2/multi/manifests/v3-amd64" })
	if indexTag < 0 || manifestTag < indexTag {
		t.Errorf("manifest tags went out before the index's tag (%d, %d)", manifestTag, indexTag)
	}
	n := len(tr.requests())
	if _, err := Push(context.Background(), img, opts); err != nil {
		t.Fatal(err)
	}
	for _, r := range tr.requests()[n:] {
		if strings.HasPrefix(r, "PUT ") || strings.HasPrefix(r, "POST ") {
			t.Errorf("repeat push wrote %s", r)
		}
	}

	clash := opts
	clash.ManifestTags = [][]string{{"same"}, {"same"}}
	_, err = Push(context.Background(), img, clash)
	imagetest.WantErr(t, err, `manifest_tags: tag "same" would name two images`)
	single := Options{Registry: tr.host, Repository: "one", ManifestTags: [][]string{{"x"}}}
	_, err = Push(context.Background(), &image.Image{Manifests: img.Manifests[:1]}, single)
	imagetest.WantErr(t, err, "this image is a single manifest")
}

func TestPushMountsFromSameRegistry(t *testing.T) {
	tr := newTestReg(t)
	base := testBlob(20, 1<<20)
	baseImg := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, bytesLayer(base, nil))}}
	if _, err := Push(context.Background(), baseImg, Options{Registry: tr.host, Repository: "base/img"}); err != nil {
		t.Fatal(err)
	}

	mounted := bytesLayer(base, nil)
	mounted.Source = &oci.BlobSource{Registry: tr.host, Repository: "base/img"}
	mounted.Open = func(context.Context) (io.ReadCloser, error) {
		t.Error("mountable layer was opened")
		return nil, errors.New("no")
	}
	// Its source lacks it: the mount fails and the bytes are uploaded.
	fallback := bytesLayer(testBlob(21, 700), nil)
	fallback.Source = &oci.BlobSource{Registry: tr.host, Repository: "elsewhere"}
	m := makeManifest(t, amd64, mounted, fallback)
	img := &image.Image{Manifests: []image.Manifest{m}}
	before := tr.uploaded.Load()
	rep := &recordingReporter{}
	res, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Tags: []string{"latest"}, Progress: rep})
	if err != nil {
		t.Fatal(err)
	}
	want := int64(700 + len(m.Config))
	if res.Mounted != 1 || res.Uploaded != 2 || res.BytesUploaded != want || tr.uploaded.Load()-before != want {
		t.Errorf("result %+v, %d bytes received; want 1 mount and %d bytes uploaded", res, tr.uploaded.Load()-before, want)
	}
	if n, _ := rep.count(Mounted); n != 1 {
		t.Errorf("%d mount events", n)
	}
	checkPushed(t, tr, "team/app", "latest", img)
}

func TestPushSurvivesFlakyRegistry(t *testing.T) {
	oldAttempts := registry.PushPolicy.Attempts
	registry.PushPolicy.Attempts = 10
	defer func() { registry.PushPolicy.Attempts = oldAttempts }()
	tr := newTestReg(t)
	var (
		mu       sync.Mutex
		n, fails int
		seen     = map[string]bool{}
	)
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		n++
		key := r.Method + " " + r.URL.Path
		first := !seen[key]
		seen[key] = true
		switch {
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && first:
			// Every manifest and tag PUT fails once.
			if strings.HasSuffix(r.URL.Path, "/latest") {
				dropConnection(w, r)
			} else {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return true
		case r.Method == http.MethodPatch && fails < 3:
			fails++
			dropConnection(w, r) // mid-body
			return true
		case n%4 == 0 && fails < 8:
			fails++
			if fails%2 == 0 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
			} else {
				dropConnection(w, r)
			}
			return true
		}
		return false
	})
	var o opens
	img := makeIndex(t,
		makeManifest(t, amd64, bytesLayer(testBlob(30, 2<<20), &o), bytesLayer(testBlob(31, 100), &o)),
		makeManifest(t, arm64, bytesLayer(testBlob(32, 300), &o)),
	)
	rep := &recordingReporter{}
	res, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "flaky", Tags: []string{"latest"}, Jobs: 2, Progress: rep})
	if err != nil {
		t.Fatal(err)
	}
	if _, b := rep.count(Bytes); b != res.BytesUploaded {
		t.Errorf("progress sums to %d bytes, %d uploaded: failed attempts not undone", b, res.BytesUploaded)
	}
	if fails < 4 {
		t.Errorf("only %d failures injected", fails)
	}
	if res.Uploaded != 5 {
		t.Errorf("result %+v", res)
	}
	tr.setFault(nil)
	checkPushed(t, tr, "flaky", "latest", img)
}

// A commit the registry carried out but whose answer was lost: the retried
// PUT finds the session gone (as distribution answers), and the check for
// the blob fails once too. The push must still succeed without resending.
// Seen in CI behind the e2e fault proxy.
func TestPushCommitAnswerLost(t *testing.T) {
	tr := newTestReg(t)
	layer := bytesLayer(testBlob(50, 3000), nil)
	var (
		mu                sync.Mutex
		committed, headed bool
	)
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		isCommit := r.Method == http.MethodPut && r.URL.Query().Get("digest") == layer.Digest
		switch {
		case isCommit && !committed:
			committed = true
			tr.serve(tr.inner, httptest.NewRecorder(), r)
			dropConnection(w, r)
			return true
		case isCommit:
			uploadUnknown(w)
			return true
		case committed && !headed && r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, layer.Digest):
			headed = true
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, layer)}}
	res, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "lost", Tags: []string{"v1"}, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !headed {
		t.Fatal("the fault was never injected")
	}
	patches := 0
	for _, r := range tr.requests() {
		if strings.HasPrefix(r, "PATCH ") {
			patches++
		}
	}
	if patches != 2 { // the layer once, the config once
		t.Errorf("%d PATCH requests, want 2: a committed blob was sent again", patches)
	}
	if res.Uploaded != 2 {
		t.Errorf("result %+v", res)
	}
	tr.setFault(nil)
	checkPushed(t, tr, "lost", "v1", img)
}

// A registry that forgets an upload session mid-way (distribution cancels
// one whose connection broke) answers BLOB_UPLOAD_UNKNOWN; a new session
// gets the blob there.
func TestPushSessionForgotten(t *testing.T) {
	tr := newTestReg(t)
	layer := bytesLayer(testBlob(51, 3000), nil)
	var forgot atomic.Bool
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPatch && forgot.CompareAndSwap(false, true) {
			io.Copy(io.Discard, r.Body)
			uploadUnknown(w)
			return true
		}
		return false
	})
	img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, layer)}}
	if _, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "forgot", Tags: []string{"v1"}, Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	if !forgot.Load() {
		t.Fatal("the fault was never injected")
	}
	tr.setFault(nil)
	checkPushed(t, tr, "forgot", "v1", img)
}

func TestPushCorruptSourceWritesNoTag(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func([]byte) []byte
		want   string
	}{
		{"other bytes", func(b []byte) []byte { return bytes.Repeat([]byte{'x'}, len(b)) }, "arrived with digest"},
		{"short", func(b []byte) []byte { return b[:len(b)/2] }, "ended after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestReg(t)
			good := bytesLayer(testBlob(40, 5000), nil)
			bad := bytesLayer(testBlob(41, 4000), nil)
			wrong := tc.mangle(testBlob(41, 4000))
			opened := 0
			bad.Open = func(context.Context) (io.ReadCloser, error) {
				opened++
				return image.Verify(io.NopCloser(bytes.NewReader(wrong)), bad.Digest, bad.Size, "source"), nil
			}
			img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, good, bad)}}
			_, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Tags: []string{"latest"}, Jobs: 1, Label: "//app:push"})
			imagetest.WantErr(t, err, "//app:push", bad.Digest, string(oci.MediaTypeLayer), tc.want)
			if opened != 1 {
				t.Errorf("corrupt source opened %d times; a mismatch is no reason to retry", opened)
			}
			if _, herr := remote.Head(tr.ref(t, "team/app", "latest")); herr == nil {
				t.Error("tag exists after a failed push")
			}
			if _, herr := remote.Head(tr.ref(t, "team/app", img.RootDigest())); herr == nil {
				t.Error("manifest exists after a failed push")
			}
			if tr.holds("team/app", bad.Digest) {
				t.Error("corrupt blob committed")
			}
		})
	}
}

// A build output is only measured by its opener; when its bytes changed
// after the build, the registry's own digest check refuses it, and the
// error says to rebuild.
func TestPushChangedBuildOutput(t *testing.T) {
	tr := newTestReg(t)
	l := bytesLayer(testBlob(42, 6000), nil)
	changed := testBlob(42, 6000)
	changed[3000] ^= 0xff
	opened := 0
	l.Open = func(context.Context) (io.ReadCloser, error) {
		opened++
		return image.CheckLength(io.NopCloser(bytes.NewReader(changed)), l.Digest, l.Size, "output"), nil
	}
	img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, l)}}
	_, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Tags: []string{"latest"}, Jobs: 1, Label: "//app:push"})
	imagetest.WantErr(t, err, "//app:push", l.Digest, "do not match their digest", "rebuild")
	if opened != 1 {
		t.Errorf("changed output sent %d times; a digest mismatch is no reason to retry", opened)
	}
	if _, herr := remote.Head(tr.ref(t, "team/app", "latest")); herr == nil {
		t.Error("tag exists after a failed push")
	}
	if tr.holds("team/app", l.Digest) {
		t.Error("changed blob committed")
	}
}

func TestPushStreamsFromOtherRegistry(t *testing.T) {
	src, dst := newTestReg(t), newTestReg(t)
	layerBytes := testBlob(50, 3<<20)
	seed := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, bytesLayer(layerBytes, nil))}}
	if _, err := Push(context.Background(), seed, Options{Registry: src.host, Repository: "library/base"}); err != nil {
		t.Fatal(err)
	}
	l := bytesLayer(layerBytes, nil)
	l.Source = &oci.BlobSource{Registry: src.host, Repository: "library/base"}
	l.Open = func(ctx context.Context) (io.ReadCloser, error) {
		r, err := pull.OpenBlob(ctx, *l.Source, l.Digest, l.Size, pull.FetchOptions{})
		if err != nil {
			return nil, err
		}
		return image.Verify(r, l.Digest, l.Size, "source"), nil
	}
	img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, l)}}
	res, err := Push(context.Background(), img, Options{Registry: dst.host, Repository: "app", Tags: []string{"latest"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mounted != 0 || res.Uploaded != 2 {
		t.Errorf("result %+v: a blob of another registry must be uploaded", res)
	}
	checkPushed(t, dst, "app", "latest", img)

	// The source connection breaks mid-blob once: the upload starts over.
	broke := false
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if broke || r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+l.Digest) {
			return false
		}
		broke = true
		w.Header().Set("Content-Length", strconv.FormatInt(l.Size, 10))
		w.WriteHeader(http.StatusOK)
		w.Write(layerBytes[:l.Size/2])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return true
	})
	res, err = Push(context.Background(), img, Options{Registry: dst.host, Repository: "app1", Tags: []string{"latest"}})
	if err != nil {
		t.Fatal(err)
	}
	if !broke || res.Uploaded != 2 {
		t.Errorf("broken source: %+v, broke %v", res, broke)
	}
	checkPushed(t, dst, "app1", "latest", img)

	// The source registry serves other bytes: the push fails, no tag.
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+l.Digest) {
			w.Write(make([]byte, l.Size))
			return true
		}
		return false
	})
	_, err = Push(context.Background(), img, Options{Registry: dst.host, Repository: "app2", Tags: []string{"latest"}})
	imagetest.WantErr(t, err, l.Digest, "source holds different bytes")
	if _, herr := remote.Head(dst.ref(t, "app2", "latest")); herr == nil {
		t.Error("tag exists after a failed push")
	}

	// The source lacks the blob: explained by the registry package.
	src.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w.WriteHeader(http.StatusNotFound)
			return true
		}
		return false
	})
	_, err = Push(context.Background(), img, Options{Registry: dst.host, Repository: "app3"})
	imagetest.WantErr(t, err, l.Digest, "not found on "+src.host)
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pass}), nil
}

func TestPushDeniedKeepsSecrets(t *testing.T) {
	tr := newTestReg(t)
	tr.setFault(func(w http.ResponseWriter, r *http.Request) bool {
		if _, pass, ok := r.BasicAuth(); !ok || pass != "s3cret-pass" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		if r.Method == http.MethodPost {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`)
			return true
		}
		return false
	})
	img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, bytesLayer(testBlob(60, 100), nil))}}
	_, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Tags: []string{"latest"}, Keychain: staticKeychain{"me", "s3cret-pass"}})
	imagetest.WantErr(t, err, "denied the push", "HTTP 403", "DENIED")
	enc := base64.StdEncoding.EncodeToString([]byte("me:s3cret-pass"))
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), enc) {
		t.Errorf("error leaks the password: %v", err)
	}

	_, err = Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app", Keychain: staticKeychain{"me", "wrong"}})
	imagetest.WantErr(t, err, "authentication failed", "HTTP 401")
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestPushRejectsBadInput(t *testing.T) {
	m := makeManifest(t, amd64, bytesLayer(testBlob(70, 10), nil))
	img := &image.Image{Manifests: []image.Manifest{m}}
	_, err := Push(context.Background(), img, Options{Registry: "127.0.0.1:1", Repository: "team/app", Tags: []string{"-bad"}})
	imagetest.WantErr(t, err, `tag "-bad"`)
	_, err = Push(context.Background(), img, Options{Registry: "127.0.0.1:1", Repository: "Team"})
	imagetest.WantErr(t, err, `repository "Team"`)
	broken := m
	broken.Raw = append([]byte(" "), m.Raw...)
	_, err = Push(context.Background(), &image.Image{Manifests: []image.Manifest{broken}}, Options{Registry: "127.0.0.1:1", Repository: "a"})
	imagetest.WantErr(t, err, "not the declared "+m.Digest)
	_, err = Push(context.Background(), img, Options{Registry: "127.0.0.1:1", Repository: "a"})
	imagetest.WantErr(t, err, "connection refused")
}

// Pushes that share a Shared, into different repositories at once, send a
// layer they all have once; the others mount it.
func TestPushSharedAcrossRepositories(t *testing.T) {
	tr := newTestReg(t)
	var o opens
	common := testBlob(30, 1<<20)
	commonDigest := bytesLayer(common, nil).Digest
	var shared Shared
	pushAll := func(tag string) {
		t.Helper()
		var wg sync.WaitGroup
		results := make([]Result, 6)
		errs := make([]error, 6)
		for i := range results {
			img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, bytesLayer(common, &o), bytesLayer(testBlob(int64(31+i), 300), nil))}}
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = Push(context.Background(), img, Options{Registry: tr.host, Repository: fmt.Sprintf("svc%d", i), Tags: []string{tag}, Shared: &shared})
			}()
		}
		wg.Wait()
		mounted := 0
		for i, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
			mounted += results[i].Mounted
			if !tr.holds(fmt.Sprintf("svc%d", i), commonDigest) {
				t.Errorf("svc%d lacks the common layer", i)
			}
		}
		if mounted != 5 {
			t.Errorf("%d mounts, want 5 (every push but the first)", mounted)
		}
	}
	pushAll("v1")
	if n := o.count(commonDigest); n != 1 {
		t.Errorf("the common layer was read %d times, want once", n)
	}
	// The registry is wiped behind the same address: what Shared remembers
	// no longer mounts, and the layer is uploaded once more, not six times.
	// (A new tag, since the wipe forgets only blobs: v1 still names the
	// image, and a push of a complete image does nothing.)
	tr.mu.Lock()
	tr.has = map[string]bool{}
	tr.mu.Unlock()
	pushAll("v2")
	if n := o.count(commonDigest); n != 2 {
		t.Errorf("after the wipe the common layer was read %d times in all, want twice", n)
	}
}
