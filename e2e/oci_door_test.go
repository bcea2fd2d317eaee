//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// testOCIDoor builds the pull workspace's //oci package, a rules_oci BUILD
// file with only its load lines changed, on oci.pull's two-platform base.
func testOCIDoor(t *testing.T, e *pullEnv, layers map[string]bool) {
	// Push and load targets, digests: no base layer byte is downloaded.
	e.proxy.Reset()
	if _, err := e.ws.Must("build", "//oci:push", "//oci:load", "//oci:image.digest", "//oci:index.digest", "//oci:image_arm64.digest"); err != nil {
		t.Fatal(err)
	}
	if layerBytes := e.proxy.Stats().BytesOutOf(layers); layerBytes != 0 {
		t.Errorf("building on oci.pull's base downloaded %d bytes of base layers", layerBytes)
	}

	// Without os and architecture, an image on NAME_linux_arm64_v8 is arm64.
	if d := descriptorOf(t, e.ws, "//oci:image_arm64"); d.Platform == nil || d.Platform.Architecture != "arm64" {
		t.Errorf("//oci:image_arm64 on @distroless_linux_arm64_v8: platform %+v, want arm64", d.Platform)
	}
	// labels from a file of NAME=VALUE lines.
	files, err := e.ws.OutputFiles("//oci:image.manifest", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".config.json") {
			var c config
			readJSON(t, f, &c)
			if c.Config.Labels["org.opencontainers.image.title"] != "oci door app" || c.Config.Labels["org.example.team"] != "e2e" {
				t.Errorf("labels from labels.txt: %v", c.Config.Labels)
			}
		}
	}

	// oci_push with rules_oci's run-time --repository REGISTRY/REPO; the
	// tag points at the index NAME.digest names.
	if _, err := bazelRun(t, e.ws, "//oci:push", nil, "--repository", e.proxy.Addr()+"/oci/app"); err != nil {
		t.Fatal(err)
	}
	digest := readOutput(t, e.ws, "//oci:index.digest")
	if _, got, err := harness.RawManifest(e.proxy.Addr(), "oci/app", "v1"); err != nil || got != digest {
		t.Errorf("oci/app:v1 is %s (%v); index.digest says %s", got, err, digest)
	}
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	out := pullAndRun(t, ctrd, e.proxy.Addr()+"/oci/app:v1", "oci-door")
	if !strings.Contains(out, "big.bin=603979776 bytes") || !strings.Contains(out, "APP_ENV=from-the-oci-door") {
		t.Errorf("the pushed index printed %q", out)
	}

	// oci_load into containerd: after a change to one tar, only its layer
	// (with the manifest and config) is sent again.
	sent := versionedLoads(t, e.ws, ctrd, "//oci:load", filepath.Join("oci", "version.txt"), func(i int, _ loadRound) {
		want := descriptorOf(t, e.ws, "//oci:image").Digest
		if ls, err := ctrd.Ctr("images", "ls", "name==docker.io/oci/app:v1"); err != nil || !strings.Contains(ls, want) {
			t.Errorf("load %d: containerd has %q (%v), want %s", i+1, ls, err, want)
		}
	})
	t.Logf("oci_load into containerd: %d bytes sent, then %d after changing version.txt", sent[0], sent[1])
	if sent[1] >= 64<<10 {
		t.Errorf("the second load sent %d bytes; want only the changed tar's layer, manifest and config (< 64 KiB)", sent[1])
	}

	// The default output is the OCI layout, as in rules_oci.
	dirs, err := e.ws.OutputFiles("//oci:image_arm64", "")
	if err != nil || len(dirs) != 1 {
		t.Fatalf("//oci:image_arm64 default output: %v %v", dirs, err)
	}
	if _, err := e.ws.Must("build", "//oci:image_arm64"); err != nil {
		t.Fatal(err)
	}
	if root := rootOf(t, dirs[0]); root.Digest != readOutput(t, e.ws, "//oci:image_arm64.digest") {
		t.Errorf("the layout's root %s is not image_arm64.digest", root.Digest)
	}
	// skopeo reads the manifest, config and every layer out of it.
	if out, err := harness.Skopeo("copy", "--override-arch", "arm64", "oci:"+dirs[0], "dir:"+t.TempDir()); err != nil {
		t.Errorf("skopeo copy of the layout: %v\n%s", err, out)
	}
}

// readOutput returns the content of a target's single output file.
func readOutput(t *testing.T, b *harness.Bazel, target string) string {
	t.Helper()
	data, err := os.ReadFile(readOutputPath(t, b, target))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
