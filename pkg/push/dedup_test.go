package push

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/imagetest"
)

// pushFleet pushes n images that share one layer into repositories svc0..,
// at once, with one Shared and the options opts sets; it returns the
// errors, the number of uploads of the common layer and the images.
func pushFleet(t *testing.T, tr *testReg, n int, opts func(*Options)) (errs []error, uploads int, imgs []*image.Image) {
	t.Helper()
	common := testBlob(40, 1<<20)
	commonDigest := bytesLayer(common, nil).Digest
	var shared Shared
	var o opens
	errs = make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		img := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, bytesLayer(common, &o), bytesLayer(testBlob(int64(41+i), 300), nil))}}
		imgs = append(imgs, img)
		o := Options{Registry: tr.host, Repository: fmt.Sprintf("svc%d", i), Tags: []string{"v1"}, Shared: &shared}
		opts(&o)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Push(context.Background(), img, o)
		}()
	}
	wg.Wait()
	return errs, o.count(commonDigest), imgs
}

func TestDedupModes(t *testing.T) {
	for _, tc := range []struct {
		dedup   Dedup
		uploads int
	}{{DedupEnabled, 1}, {DedupBestEffort, 1}, {DedupDisabled, 4}} {
		t.Run(string(tc.dedup), func(t *testing.T) {
			tr := newTestReg(t)
			errs, uploads, _ := pushFleet(t, tr, 4, func(o *Options) { o.Dedup = tc.dedup })
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if uploads != tc.uploads {
				t.Errorf("the common layer was read %d times, want %d", uploads, tc.uploads)
			}
		})
	}
}

// A registry that refuses every mount: enabled fails loudly, naming the
// repository the layer went to; best_effort uploads it again.
func TestDedupRefusedMount(t *testing.T) {
	refuse := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" {
			// As a registry without mounts answers: a plain upload session.
			q := r.URL.Query()
			q.Del("mount")
			q.Del("from")
			r.URL.RawQuery = q.Encode()
		}
		return false
	}
	tr := newTestReg(t)
	tr.fault = refuse
	errs, _, _ := pushFleet(t, tr, 3, func(o *Options) { o.Dedup = DedupEnabled })
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			imagetest.WantErr(t, err, "refusing to upload layer", "for mounting, so the registry refused to mount it from there", "deduplicated_push = best_effort")
		}
	}
	if failed != 2 {
		t.Errorf("%d pushes failed, want every one but the first", failed)
	}

	tr = newTestReg(t)
	tr.fault = refuse
	errs, uploads, _ := pushFleet(t, tr, 3, func(o *Options) { o.Dedup = DedupBestEffort })
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if uploads != 3 {
		t.Errorf("best_effort read the common layer %d times, want 3 (one per repository)", uploads)
	}
}

// A pinned home repository gets every layer once; the destinations mount
// from it, and with artificial manifests it holds one manifest per layer.
func TestDedupHomeRepository(t *testing.T) {
	tr := newTestReg(t)
	errs, uploads, imgs := pushFleet(t, tr, 3, func(o *Options) {
		o.Dedup, o.HomeRepository, o.ArtificialManifests = DedupEnabled, "team/shared-blobs", true
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if uploads != 1 {
		t.Errorf("the common layer was read %d times, want once", uploads)
	}
	for _, l := range imgs[0].Manifests[0].Layers {
		if !tr.holds("team/shared-blobs", l.Digest) {
			t.Errorf("the home repository lacks %s", l.Digest)
		}
	}
	var manifests int
	for _, r := range tr.requests() {
		if strings.HasPrefix(r, "PUT /v2/team/shared-blobs/manifests/sha256:") {
			manifests++
		}
	}
	// The common layer and each image's own: 1 + 3.
	if manifests != 4 {
		t.Errorf("%d artificial manifests, want 4", manifests)
	}
	d, err := remote.Head(tr.ref(t, "svc2", "v1"))
	if err != nil || d.Digest.String() != imgs[2].Manifests[0].Digest {
		t.Errorf("svc2:v1 = %v %v", d, err)
	}
}

// cross_mount_from: a layer a sibling's repository holds is mounted from it.
func TestMountFromSibling(t *testing.T) {
	tr := newTestReg(t)
	var o opens
	common := testBlob(50, 1<<20)
	first := &image.Image{Manifests: []image.Manifest{makeManifest(t, amd64, bytesLayer(common, &o))}}
	if _, err := Push(context.Background(), first, Options{Registry: tr.host, Repository: "team/a", Tags: []string{"v1"}}); err != nil {
		t.Fatal(err)
	}
	second := &image.Image{Manifests: []image.Manifest{makeManifest(t, arm64, bytesLayer(common, &o))}}
	res, err := Push(context.Background(), second, Options{Registry: tr.host, Repository: "team/b", Tags: []string{"v1"}, MountFrom: []string{"team/a"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Mounted != 1 || o.count(bytesLayer(common, nil).Digest) != 1 {
		t.Errorf("result %+v, layer read %d times: want it mounted from team/a", res, o.count(bytesLayer(common, nil).Digest))
	}
}

func TestParseDedup(t *testing.T) {
	for in, want := range map[string]Dedup{"": DedupBestEffort, "enabled": DedupEnabled, "disabled": DedupDisabled, "best_effort": DedupBestEffort} {
		if got, err := ParseDedup(in); err != nil || got != want {
			t.Errorf("ParseDedup(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseDedup("auto"); err == nil {
		t.Error("auto is resolved by the rules, not here")
	}
}

// A blob-only push (push at build time) reads a blob two manifests share
// from the opener it is given: the action's input may be either manifest's.
func TestBlobsOnlyUsesTheGivenOpener(t *testing.T) {
	tr := newTestReg(t)
	shared := testBlob(60, 500)
	broken := bytesLayer(shared, nil)
	broken.Open = func(context.Context) (io.ReadCloser, error) { return nil, fmt.Errorf("not this action's input") }
	img := makeIndex(t, makeManifest(t, amd64, broken), makeManifest(t, arm64, bytesLayer(shared, nil)))
	given := img.Manifests[1].Layers[0].Open
	res, err := Push(context.Background(), img, Options{Registry: tr.host, Repository: "team/app",
		BlobsOnly: map[string]image.Opener{broken.Digest: given}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 1 || !tr.holds("team/app", broken.Digest) {
		t.Errorf("result %+v", res)
	}
	for _, r := range tr.requests() {
		if strings.Contains(r, "/manifests/") {
			t.Errorf("a blob-only push wrote %s", r)
		}
	}
}
