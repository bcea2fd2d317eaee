//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
	"github.com/rules-img/rules_img/pkg/oci"
)

// TestDigestFunctionSHA1 builds on buildbox-casd keyed by SHA-1, with
// Bazel's --digest_function=SHA1 (the one function other than SHA-256 that
// both Bazel 7.7.1 and casd offer), and pushes with every strategy that
// reads blobs from the cache: lazy, cas_registry and bes. The images are
// the same as a SHA-256 build's; only the cache's keys differ, and the
// layer metadata records them.
func TestDigestFunctionSHA1(t *testing.T) {
	const instance = "rules-img-e2e"
	casd, err := harness.StartCasd(harness.CasdOptions{Execute: true, Instance: instance, DigestFunction: "SHA1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)

	// What a SHA-256 build gives (the shared workspace's output base).
	if _, err := ws.Must("build", "//hello:image"); err != nil {
		t.Fatal(err)
	}
	bin, err := ws.Info("bazel-bin")
	if err != nil {
		t.Fatal(err)
	}
	var want descriptor
	readJSON(t, filepath.Join(bin, "hello", "image.descriptor.json"), &want)
	var m manifest
	readJSON(t, filepath.Join(bin, "hello", "image.manifest.json"), &m)

	ob, err := harness.TempDir("rules_img_e2e_sha1-")
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: ws.Workspace, OutputBase: ob, Startup: []string{"--digest_function=SHA1"}}
	t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })
	endpoint := "grpc://" + casd.Addr()
	remote := []string{
		"--disk_cache=",
		"--remote_executor=" + endpoint,
		"--remote_instance_name=" + instance,
		"--remote_download_minimal",
		`--remote_download_regex=.*\.json$`,
		"--extra_execution_platforms=//platforms:remote_linux_amd64",
		"--platforms=//platforms:linux_amd64",
		"--@rules_img//img/settings:remote_cache=" + endpoint,
		"--@rules_img//img/settings:remote_instance_name=" + instance,
	}
	flags := append([]string{"--@rules_img//img/settings:digest_function=sha1"}, remote...)

	var keys []string // the layers' SHA-1 keys in casd
	t.Run("the layers record their SHA-1 keys", func(t *testing.T) {
		if r := b.Run(append([]string{"build", "//hello:image", "//hello:app_layer", "//hello:zstd_layer"}, flags...)...); r.Err != nil {
			t.Fatalf("remote build: %v\n%s", r.Err, tailLines(r.Stderr, 30))
		}
		outBin, err := b.Info("bazel-bin", flags...)
		if err != nil {
			t.Fatal(err)
		}
		var got descriptor
		readJSON(t, filepath.Join(outBin, "hello", "image.descriptor.json"), &got)
		if got.Digest != want.Digest {
			t.Errorf("the SHA-1 build's image is %s, the SHA-256 build's %s", got.Digest, want.Digest)
		}
		for _, name := range []string{"app_layer", "zstd_layer"} {
			var md oci.LayerMetadata
			readJSON(t, filepath.Join(outBin, "hello", name+".layer.json"), &md)
			if oci.CheckCASDigest(md.CASDigest) != nil || !strings.HasPrefix(md.CASDigest, "sha1:") {
				t.Fatalf("%s: casDigest %q, want sha1:<hex>", name, md.CASDigest)
			}
			if ok, err := casd.HasBlob(md.CASDigest, md.Size); !ok || err != nil {
				t.Errorf("%s: casd has no blob %s (%v)", name, md.CASDigest, err)
			}
			keys = append(keys, md.CASDigest)
		}
	})

	t.Run("lazy push streams from casd", func(t *testing.T) {
		casd.Reset()
		if _, err := bazelRun(t, b, "//deploy:push_lazy", flags, "--registry", reg.Addr(), "--repository", "e2e/sha1-lazy"); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if casd.BlobReads(k) == 0 {
				t.Errorf("layer %s did not stream from casd", k)
			}
		}
		checkPushed(t, reg.Addr(), "e2e/sha1-lazy", want.Digest)
	})

	t.Run("cas_registry: the registry maps SHA-1 keys to digests", func(t *testing.T) {
		creg, err := harness.StartCASRegistry("grpc://"+casd.Direct(), instance, "--digest-function", "sha1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(creg.Stop)
		withCache := *b
		withCache.Env = append(append([]string{}, b.Env...), "IMG_BLOB_CACHE_ENDPOINT="+creg.BlobCache())
		out, err := bazelRun(t, &withCache, "//casreg:hello", flags, "--registry", creg.Addr())
		if err != nil {
			t.Fatalf("%v\nregistry log:\n%s", err, tailLines(creg.Log(), 20))
		}
		// The announcement taught the registry every blob: none is sent.
		if !strings.Contains(out, "3/3 blobs: 0 uploaded") {
			t.Errorf("the push uploaded blobs the CAS has:\n%s", tailLines(out, 10))
		}
		checkPushed(t, creg.Addr(), "e2e/cas-hello", want.Digest)
	})

	t.Run("bes pushes from casd", func(t *testing.T) {
		bes, err := harness.StartBES("grpc://" + casd.Direct())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bes.Stop)
		r := b.Run(append([]string{"build", "//bes:hello"}, append(flags, "--bes_backend=grpc://"+bes.Addr(),
			"--@rules_img//img/settings:push_strategy=bes",
			"--@rules_img//img/settings:destination_registry="+reg.Addr())...)...)
		if r.Err != nil {
			t.Fatalf("build with the bes backend: %v\n%s\nbackend log:\n%s", r.Err, tailLines(r.Stderr, 30), tailLines(bes.Log(), 30))
		}
		checkPushed(t, reg.Addr(), "e2e/bes-hello", want.Digest)
	})

	t.Run("without the setting, the push says which to set", func(t *testing.T) {
		out, err := bazelRun(t, b, "//deploy:push_lazy", remote, "--registry", reg.Addr(), "--repository", "e2e/sha1-unset")
		if err == nil {
			t.Fatalf("a lazy push without the digest_function setting succeeded:\n%s", tailLines(out, 10))
		}
		if !strings.Contains(out, "digest_function=sha1") {
			t.Errorf("the failure does not name the setting:\n%s", tailLines(out, 15))
		}
	})
}

// checkPushed asserts repo:v1 on addr is the image digest, whole.
func checkPushed(t *testing.T, addr, repo, digest string) {
	t.Helper()
	if _, got, err := harness.RawManifest(addr, repo, "v1"); err != nil || got != digest {
		t.Fatalf("%s:v1 is %s (%v), want %s", repo, got, err, digest)
	}
	if err := harness.VerifyImage(addr + "/" + repo + ":v1"); err != nil {
		t.Fatal(err)
	}
}
