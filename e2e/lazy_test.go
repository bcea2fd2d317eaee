//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestBuildWithoutTheBytes builds the image against a remote cache, forgets
// every local output, and pushes with the lazy strategy: the layer blobs
// stream from the cache to the registry and never land under bazel-out.
// Three caches: nginx speaking Bazel's HTTP protocol, buildbox-casd as a
// REAPI gRPC cache, and a --disk_cache directory.
func TestBuildWithoutTheBytes(t *testing.T) {
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	nginx, err := harness.StartNginxCache()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nginx.Stop)
	casd, err := harness.StartCasd(harness.CasdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	diskCache, err := harness.TempDir("rules_img_e2e_disk_cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(diskCache) })
	image := descriptorOf(t, ws, "//hello:image")
	m := builtManifest(t, "//hello:image")
	layer := m.Layers[len(m.Layers)-1] // the app layer, with the binary

	for _, c := range []struct {
		name     string
		flags    []string // how Bazel reaches the cache
		endpoint string   // how img reaches it
		has      func(string) bool
	}{
		{"http", []string{"--disk_cache=", "--remote_cache=" + nginx.URL()}, nginx.URL(), nginx.Has},
		{"grpc", []string{"--disk_cache=", "--remote_cache=grpc://" + casd.Addr()}, "grpc://" + casd.Addr(), func(d string) bool {
			ok, err := casd.HasBlob(d, layer.Size)
			return err == nil && ok
		}},
		{"disk", []string{"--disk_cache=" + diskCache}, diskCache, func(d string) bool {
			_, err := os.Stat(filepath.Join(diskCache, "cas", d[7:9], d[7:]))
			return err == nil
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ob, err := harness.TempDir("rules_img_e2e_bwob-")
			if err != nil {
				t.Fatal(err)
			}
			b := &harness.Bazel{Workspace: ws.Workspace, OutputBase: ob}
			t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })
			flags := append([]string{"--remote_download_minimal", "--@rules_img//img/settings:remote_cache=" + c.endpoint}, c.flags...)

			if _, err := b.Must(append([]string{"build", "//deploy:push_lazy"}, flags...)...); err != nil {
				t.Fatal(err)
			}
			if !c.has(layer.Digest) {
				t.Fatalf("the build did not upload layer %s to the cache", layer.Digest)
			}
			if _, err := b.Must("clean"); err != nil {
				t.Fatal(err)
			}
			casd.Reset()
			repo := "e2e/lazy-" + c.name
			r := b.Run(append(append([]string{"run", "//deploy:push_lazy"}, flags...), "--", "--registry", reg.Addr(), "--repository", repo)...)
			if r.Err != nil {
				t.Fatalf("lazy push: %v\n%s", r.Err, tailLines(r.Stdout+r.Stderr, 40))
			}
			if !strings.Contains(r.Stderr, "cache hit") {
				t.Errorf("the rebuild after clean should come from the cache:\n%s", tailLines(r.Stderr, 20))
			}
			blobs, err := b.OutputFiles("//hello:app_layer", "", flags...)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range blobs {
				if strings.HasSuffix(f, ".tar.gz") {
					if _, err := os.Stat(f); err == nil {
						t.Errorf("%s was downloaded; build without the bytes should leave it remote", f)
					}
				}
			}
			if c.name == "grpc" {
				// Bazel itself reads the launcher's runfiles (img) from the
				// cache too; the layer is read by img alone.
				if casd.BlobReads(layer.Digest) == 0 {
					t.Errorf("img did not read layer %s through ByteStream", layer.Digest)
				}
			}
			if _, got, err := harness.RawManifest(reg.Addr(), repo, "v1"); err != nil || got != image.Digest {
				t.Fatalf("%s:v1 is %s (%v), want %s", repo, got, err, image.Digest)
			}
			if err := harness.VerifyImage(reg.Addr() + "/" + repo + ":v1"); err != nil {
				t.Fatal(err)
			}
			if got := pullAndRun(t, ctrd, reg.Addr()+"/"+repo+":v1", "lazy-"+c.name); !strings.Contains(got, "hello, rules_img") {
				t.Errorf("container printed %q", got)
			}

			if c.name == "http" {
				// The cache evicts the layer: the push says so and tags nothing.
				nginx.Delete(layer.Digest)
				r := b.Run(append(append([]string{"run", "//deploy:push_lazy"}, flags...), "--", "--registry", reg.Addr(), "--repository", "e2e/evicted")...)
				if r.Err == nil || !strings.Contains(r.Stderr, "evicted") || !strings.Contains(r.Stderr, layer.Digest) {
					t.Errorf("push of an evicted blob: want a failure naming the blob and eviction, got %v:\n%s", r.Err, tailLines(r.Stderr, 20))
				}
				if _, _, err := harness.RawManifest(reg.Addr(), "e2e/evicted", "v1"); err == nil {
					t.Error("a failed push created its tag")
				}
			}
		})
	}
}
