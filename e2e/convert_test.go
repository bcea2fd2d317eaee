//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestImportOCILayout: images taken from OCI layouts (convert.bzl) keep their
// digests, build on, push to CNCF Distribution and load into containerd. One
// layout is made by `skopeo copy --all` into the workspace (the checked-in
// form), one is another rule's output (the tree-artifact form).
func TestImportOCILayout(t *testing.T) {
	index := layoutOf(t, ws, "//upstream:base_index")
	want := rootOf(t, index)
	dst := filepath.Join(ws.Workspace, "convert", "skopeo_layout")
	os.RemoveAll(dst)
	t.Cleanup(func() { os.RemoveAll(dst) })
	skopeo(t, "copy", "--all", "--preserve-digests", "oci:"+index, "oci:"+dst+":imported")

	if got := descriptorOf(t, ws, "//convert:from_skopeo"); got.Digest != want.Digest {
		t.Errorf("from_skopeo: index %s, want the layout's own %s (kept byte for byte)", got.Digest, want.Digest)
	}

	var idx manifest
	readJSON(t, blobPath(index, want.Digest), &idx)
	var arm string
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.Architecture == "arm64" {
			arm = m.Digest
		}
	}
	if got := descriptorOf(t, ws, "//convert:from_tree"); got.Digest != arm || got.Platform == nil || got.Platform.Architecture != "arm64" {
		t.Errorf("from_tree: %s %+v, want the arm64 manifest %s", got.Digest, got.Platform, arm)
	}

	r := ws.Run("build", "//convert:wrong_layers")
	if out := r.Stdout + r.Stderr; r.Err == nil || !strings.Contains(out, `layers lists 2 media types, but the image has 1 layers: set layers = ["application/vnd.oci.image.layer.v1.tar+gzip"]`) ||
		!strings.Contains(out, "//convert:wrong_layers") {
		t.Errorf("wrong layers: want an error naming the target and the list to write:\n%s", tailLines(out, 15))
	}

	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	if _, err := bazelRun(t, ws, "//convert:push", nil, "--registry", reg.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, digest, err := harness.RawManifest(reg.Addr(), "convert/imported", "v1"); err != nil || digest != want.Digest {
		t.Errorf("pushed index: %s %v, want %s", digest, err, want.Digest)
	}
	if out, err := harness.Crane("validate", "--remote", reg.Addr()+"/convert/imported:v1"); err != nil {
		t.Errorf("crane validate of the pushed index: %v\n%s", err, out)
	}

	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
		"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	if _, err := bazelRun(t, b, "//convert:load", nil, "--daemon", "containerd"); err != nil {
		t.Fatal(err)
	}
	out, err := ctrd.Run("docker.io/e2e/imported:v1", "imported-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "from linux/amd64 args=on-an-imported-base") {
		t.Errorf("an image on an imported base printed %q", out)
	}
}
