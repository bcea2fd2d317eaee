//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Compact layers (experimental_compact_layers): a build without the bytes on
// buildbox-casd leaves no layer tar in the CAS, only the compact stream and
// the contents it references; a lazy push rebuilds the layer from them, and
// an eager load from the runfiles, and both give the digests of a normal
// build. (bench/compact/run.sh measures the cache on //hello:image.)
func TestCompactLayers(t *testing.T) {
	image := descriptorOf(t, ws, "//compact:image")
	layer := builtManifest(t, "//compact:image").Layers[0]

	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	casd, err := harness.StartCasd(harness.CasdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer casd.Stop()
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	ob, err := harness.TempDir("rules_img_e2e_compact-")
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: ws.Workspace, OutputBase: ob, Env: []string{
		"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	defer func() { b.Shutdown(); os.RemoveAll(ob) }()
	flags := []string{"--remote_download_minimal", "--disk_cache=", "--remote_cache=grpc://" + casd.Addr(),
		"--@rules_img//img/settings:remote_cache=grpc://" + casd.Addr(),
		"--@rules_img//img/settings:experimental_compact_layers=enabled"}
	if _, err := b.Must(append([]string{"build", "//compact:push_lazy", "//compact:load"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	sizes, err := casd.Stored()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range sizes {
		total += n
		if n == layer.Size {
			t.Errorf("casd holds a blob of the layer's size, %d bytes", n)
		}
	}
	has, err := casd.HasBlob(layer.Digest, layer.Size)
	if err != nil || has {
		t.Errorf("casd holds the layer %s (%v)", layer.Digest, err)
	}
	// Built as a target of its own, so its bytes are here even when the
	// layer came from a cache.
	if _, err := ws.Must("build", "//compact:data"); err != nil {
		t.Fatal(err)
	}
	dataFiles, err := ws.OutputFiles("//compact:data", "")
	if err != nil || len(dataFiles) != 1 {
		t.Fatalf("//compact:data: %v %v", dataFiles, err)
	}
	dataBytes, err := os.ReadFile(dataFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	data, err := casd.HasBlob(oci.Digest(dataBytes), int64(len(dataBytes)))
	if err != nil || !data {
		t.Errorf("casd lacks the data file the stream references (%v)", err)
	}
	t.Logf("casd holds %d blobs, %d bytes; the layer is %d bytes", len(sizes), total, layer.Size)

	t.Run("lazy push from the remote cache", func(t *testing.T) {
		r := b.Run(append(append([]string{"run", "//compact:push_lazy"}, flags...), "--", "--registry", reg.Addr())...)
		if r.Err != nil {
			t.Fatalf("lazy push: %v\n%s", r.Err, tailLines(r.Stdout+r.Stderr, 40))
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/compact", "v1"); err != nil || got != image.Digest {
			t.Fatalf("e2e/compact:v1 is %s (%v), want %s, a normal build's", got, err, image.Digest)
		}
		if err := harness.VerifyImage(reg.Addr() + "/e2e/compact:v1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("eager load into containerd", func(t *testing.T) {
		if _, err := bazelRun(t, b, "//compact:load", flags, "--daemon", "containerd"); err != nil {
			t.Fatal(err)
		}
		out, err := ctrd.Ctr("images", "ls")
		if err != nil || !strings.Contains(out, image.Digest) || !strings.Contains(out, "docker.io/e2e/compact:v1") {
			t.Errorf("containerd's images, want docker.io/e2e/compact:v1 at %s:\n%s (%v)", image.Digest, out, err)
		}
		if got, err := ctrd.Ctr("content", "get", layer.Digest); err != nil || oci.Digest([]byte(got)) != layer.Digest {
			t.Errorf("containerd's copy of the layer is not %s (%v)", layer.Digest, err)
		}
	})
}
