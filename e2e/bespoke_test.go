//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestBespokeBaseImage builds a base image from base_images.bzl's pieces
// (e2e/workspace/bespoke): its structure test passes, containerd runs a
// dynamically linked C binary on the layer's libc as the nonroot user the
// layer's /etc/passwd names, finding libc through the layer's ld.so.cache,
// and a static Go binary beside it; and a second
// output base, with the released img and no cache, writes the same layer
// bytes. Upstream's base-images docs, copied into e2e/workspace/upstream_base,
// build as they are.
func TestBespokeBaseImage(t *testing.T) {
	if _, err := ws.Must("test", "//bespoke:structure_test", "--test_output=errors"); err != nil {
		t.Fatal(err)
	}
	// upstream's base-images docs build as they are written.
	if _, err := ws.Must("build", "//upstream_base:all"); err != nil {
		t.Fatal(err)
	}
	layout := layoutOf(t, ws, "//bespoke:image")
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	const name = "docker.io/library/bespoke:e2e"
	if err := ctrd.ImportLayout(layout, name); err != nil {
		t.Fatal(err)
	}
	// The image's user is "nonroot": containerd finds its uid in the layer's
	// /etc/passwd, and getpwuid in the binary finds the name again.
	out, err := ctrd.Run(name, "bespoke-c")
	if err != nil || !strings.Contains(out, "hello from C: uid=65532 user=nonroot certs=yes") {
		t.Fatalf("C binary: %v %q", err, out)
	}
	// The loader finds libc through the layer's /etc/ld.so.cache, not by
	// searching directories.
	out, err = ctrd.RunWith(name, "bespoke-ldcache", []string{"--env", "LD_DEBUG=libs"})
	if err != nil || !strings.Contains(out, "search cache=/etc/ld.so.cache") || strings.Contains(out, "search path=") {
		t.Fatalf("LD_DEBUG=libs: %v %q", err, out)
	}
	out, err = ctrd.Run(name, "bespoke-go", "/app/hello", "x")
	if err != nil || !strings.Contains(out, "hello, rules_img from linux/amd64 args=x") {
		t.Fatalf("Go binary: %v %q", err, out)
	}

	digest := func(b *harness.Bazel, flags ...string) string {
		t.Helper()
		if _, err := b.Must(append([]string{"build", "//bespoke:base_layer"}, flags...)...); err != nil {
			t.Fatal(err)
		}
		files, err := b.OutputFiles("//bespoke:base_layer", "metadata", flags...)
		if err != nil || len(files) != 1 {
			t.Fatalf("metadata of //bespoke:base_layer: %v %v", files, err)
		}
		var meta struct {
			Digest string `json:"digest"`
		}
		readJSON(t, files[0], &meta)
		return meta.Digest
	}
	ob, err := harness.TempDir("rules_img_e2e_bespoke_ob-")
	if err != nil {
		t.Fatal(err)
	}
	fresh := &harness.Bazel{Workspace: ws.Workspace, OutputBase: ob}
	t.Cleanup(func() { fresh.Shutdown(); os.RemoveAll(ob) })
	here, there := digest(ws), digest(fresh, "--disk_cache=")
	if here != there {
		t.Fatalf("//bespoke:base_layer is %s in one output base and %s in another", here, there)
	}
	t.Logf("//bespoke:base_layer %s in both output bases", here)
}
