package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/pull"
)

// blobGets counts GETs of /v2/.../blobs/ on an in-process registry.
type blobGets struct {
	mu    sync.Mutex
	paths []string
}

func (b *blobGets) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			b.mu.Lock()
			b.paths = append(b.paths, r.URL.Path)
			b.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (b *blobGets) count(digest string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.paths {
		if strings.HasSuffix(p, digest) {
			n++
		}
	}
	return n
}

// TestPullThenLayoutFetchesLayers is the shallow base image flow: pull
// metadata only, then let the layout fetch exactly the layers it needs.
func TestPullThenLayoutFetchesLayers(t *testing.T) {
	var gets blobGets
	srv := httptest.NewServer(gets.wrap(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	var imgs []v1.Image
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(1024, 2)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	ref, _ := name.ParseReference(host + "/base:v1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()

	out := t.TempDir()
	if err := pullMain([]string{"--registry", host, "--repository", "base", "--digest", idxDigest.String(), "--tag", "v1", "--out", out, "--name", "base"}); err != nil {
		t.Fatal(err)
	}
	var image pull.Record
	b, err := os.ReadFile(filepath.Join(out, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &image); err != nil {
		t.Fatal(err)
	}

	// The arm64 image alone, as a layout: blobs from the pull, layers remote.
	pm := image.Manifests[1]
	root := filepath.Join(t.TempDir(), "root.json")
	if err := atomicfile.WriteJSON(root, oci.Descriptor{MediaType: pm.MediaType, Digest: pm.Digest, Size: pm.Size}); err != nil {
		t.Fatal(err)
	}
	args := []string{"--root", root, "--blob", filepath.Join(out, pm.Manifest), "--blob", filepath.Join(out, pm.Config)}
	for _, m := range image.Manifests {
		for _, l := range m.Layers {
			args = append(args, "--remote-layer", filepath.Join(out, l.Metadata))
		}
	}
	for _, l := range pm.Layers {
		if n := gets.count(l.Digest); n != 0 {
			t.Fatalf("pull fetched layer %s %d times", l.Digest, n)
		}
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := layoutMain(append(args, "--out", dir)); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	li, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(li); err != nil {
		t.Fatal(err)
	}
	for _, l := range pm.Layers {
		if n := gets.count(l.Digest); n != 1 {
			t.Errorf("layout fetched layer %s %d times, want 1", l.Digest, n)
		}
	}
	// Layers of the other platform are not needed and not fetched.
	for _, l := range image.Manifests[0].Layers {
		if n := gets.count(l.Digest); n != 0 {
			t.Errorf("layout fetched unreferenced layer %s", l.Digest)
		}
	}

	// fetch-blob downloads one layer by its metadata.
	l := image.Manifests[0].Layers[0]
	dst := filepath.Join(t.TempDir(), "blob")
	if err := fetchBlobMain([]string{"--metadata", filepath.Join(out, l.Metadata), "--out", dst}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); oci.Digest(got) != l.Digest {
		t.Errorf("fetch-blob wrote content with digest %s, want %s", oci.Digest(got), l.Digest)
	}
}

func TestPullCmdFlagErrors(t *testing.T) {
	dir := t.TempDir()
	errContains(t, pullMain([]string{"--registry", "r.example", "--repository", "x", "--out", dir}), "--digest is required")
	errContains(t, pullMain([]string{"--registry", "r.example", "--repository", "x", "--out", dir, "--digest", "sha256:" + strings.Repeat("a", 64), "--layers", "lazy"}), "shallow or eager")
	errContains(t, pullMain([]string{"--repository", "x", "--out", dir}), "--registry is required")
	errContains(t, pullMain([]string{"--registry", "r.example", "--repository", "x", "--out", dir, "--digest", "sha256:" + strings.Repeat("a", 64), "--docker-config", filepath.Join(dir, "missing.json")}), "docker config")

	// A layer from img layer has no source to fetch from.
	_, meta, _ := ociLayerFixture(t, dir, "local", "content")
	errContains(t, fetchBlobMain([]string{"--metadata", meta, "--out", filepath.Join(dir, "o")}), "no source")
	root := filepath.Join(dir, "root.json")
	atomicfile.WriteJSON(root, oci.DescriptorFor(oci.MediaTypeManifest, []byte("{}")))
	errContains(t, layoutMain([]string{"--root", root, "--remote-layer", meta, "--out", filepath.Join(dir, "l")}), "no source")
}
