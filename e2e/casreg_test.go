//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// testCASRegistryPush pushes with strategy cas_registry into cmd/registry
// on TestRemoteExecution's casd: the images Bazel built remotely reach the
// registry as manifests and tags alone, containerd pulls one from it and
// runs it, and it survives a restart. A CAS that lost the blobs gives a
// clear 404.
func testCASRegistryPush(t *testing.T, casd *harness.Casd, ctrd *harness.Containerd, b *harness.Bazel, runFlags []string, local map[string][]byte) {
	const instance = "rules-img-e2e"
	reg, err := harness.StartCASRegistry("grpc://"+casd.Direct(), instance)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	proxy, err := harness.StartProxy(reg.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	withCache := *b
	withCache.Env = append(append([]string{}, b.Env...), "IMG_BLOB_CACHE_ENDPOINT="+reg.BlobCache())
	want := map[string]string{ // repository -> digest
		"e2e/cas-hello": localDigest(t, local, "//hello:image"),
		"e2e/cas-multi": localDigest(t, local, "//hello:multiarch"),
	}
	var m manifest
	if err := json.Unmarshal(local["//hello:image image.manifest.json"], &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("manifest of //hello:image: %v", err)
	}

	casd.Reset()
	for _, target := range []string{"//casreg:hello", "//casreg:multiarch"} {
		out, err := bazelRun(t, &withCache, target, runFlags, "--registry", proxy.Addr())
		if err != nil {
			t.Fatalf("%v\nregistry log:\n%s", err, tailLines(reg.Log(), 20))
		}
		t.Log(tailLines(out, 3))
	}
	stats := proxy.Stats()
	if stats.Blobs.BytesIn != 0 || len(stats.BlobBytesIn) != 0 {
		t.Errorf("the pushes uploaded %d blob bytes (%v); with the blob cache endpoint they send only manifests and tags", stats.Blobs.BytesIn, stats.BlobBytesIn)
	}
	if stats.Manifests.BytesIn == 0 {
		t.Error("no manifest was pushed")
	}
	for _, l := range m.Layers {
		if n := casd.BlobReads(l.Digest); n != 0 {
			t.Errorf("Bazel or img read layer %s from casd %d times; nothing but the registry should", l.Digest, n)
		}
	}
	t.Logf("registry requests: %s; the machine running Bazel read %d ByteStream bytes from casd", stats, casd.ByteStreamBytesRead())
	check := func(t *testing.T) {
		t.Helper()
		for repo, digest := range want {
			if _, got, err := harness.RawManifest(reg.Addr(), repo, "v1"); err != nil || got != digest {
				t.Fatalf("%s:v1 is %s (%v), want %s (the local build's)", repo, got, err, digest)
			}
			if err := harness.VerifyImage(reg.Addr() + "/" + repo + ":v1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	check(t)
	if got := pullAndRun(t, ctrd, reg.Addr()+"/e2e/cas-hello:v1", "cas-push"); !strings.Contains(got, "hello, rules_img") {
		t.Errorf("container printed %q", got)
	}

	t.Run("manifests and tags survive a restart", func(t *testing.T) {
		if err := reg.Restart(); err != nil {
			t.Fatal(err)
		}
		check(t)
		out, err := bazelRun(t, &withCache, "//casreg:hello", runFlags, "--registry", reg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Log(tailLines(out, 2))
	})

	t.Run("without the blob cache endpoint the push uploads", func(t *testing.T) {
		// A new registry knows no blob sizes: the push uploads every blob,
		// and the registry writes them into casd (ByteStream.Write).
		reg2, err := harness.StartCASRegistry("grpc://"+casd.Direct(), instance)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg2.Stop)
		proxy.SetBackend(reg2.Addr())
		t.Cleanup(func() { proxy.SetBackend(reg.Addr()) })
		proxy.Reset()
		out, err := bazelRun(t, b, "//casreg:hello", runFlags, "--registry", proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "without IMG_BLOB_CACHE_ENDPOINT") {
			t.Errorf("no advice about IMG_BLOB_CACHE_ENDPOINT:\n%s", tailLines(out, 10))
		}
		if got := len(proxy.Stats().BlobBytesIn); got != len(m.Layers)+1 {
			t.Errorf("%d blobs uploaded, want the %d layers and the config", got, len(m.Layers))
		}
		if _, got, err := harness.RawManifest(reg2.Addr(), "e2e/cas-hello", "v1"); err != nil || got != want["e2e/cas-hello"] {
			t.Fatalf("e2e/cas-hello:v1 is %s (%v)", got, err)
		}
		if err := harness.VerifyImage(reg2.Addr() + "/e2e/cas-hello:v1"); err != nil {
			t.Fatal(err)
		}
		t.Log(tailLines(reg2.Log(), 4))
	})

	t.Run("a blob the CAS lost is a clear 404", func(t *testing.T) {
		empty, err := harness.StartCasd(harness.CasdOptions{Instance: instance})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(empty.Stop)
		// The same data directory on a CAS that has none of the blobs: as
		// if the cache had evicted them.
		if err := reg.Restart("--reapi-endpoint", "grpc://"+empty.Direct()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Restart("--reapi-endpoint", "grpc://"+casd.Direct()) })
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/cas-hello", "v1"); err != nil || got != want["e2e/cas-hello"] {
			t.Fatalf("the manifest should still be served: %s (%v)", got, err)
		}
		resp, err := http.Get("http://" + reg.Addr() + "/v2/e2e/cas-hello/blobs/" + m.Layers[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "BLOB_UNKNOWN") || !strings.Contains(string(body), "evicted") {
			t.Fatalf("GET of an evicted layer: HTTP %d %s", resp.StatusCode, body)
		}
		verr := harness.VerifyImage(reg.Addr() + "/e2e/cas-hello:v1")
		if verr == nil {
			t.Fatal("skopeo copied an image whose layers the CAS lost")
		}
		t.Logf("evicted layer: HTTP %d %s\nskopeo: %s", resp.StatusCode, strings.TrimSpace(string(body)), tailLines(verr.Error(), 3))
	})

	t.Run("bazel run @rules_img//cmd/registry", func(t *testing.T) {
		r := ws.Run("run", "@rules_img//cmd/registry", "--", "-h")
		if r.Err != nil || !strings.Contains(r.Stderr, "--reapi-endpoint") {
			t.Fatalf("%v\n%s", r.Err, tailLines(r.Stderr, 20))
		}
	})
}
