//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
	"github.com/rules-img/rules_img/pkg/oci"
)

// TestPushAtBuildTime builds push targets with push at build time on
// buildbox-casd with remote execution and --remote_download_minimal: the
// PushImage validation actions push the blobs from the executor, so Bazel
// reads no layer byte from casd, and the registry's proxy sees them arrive.
// `bazel run` then writes the manifest, mounting the layers from the staging
// repository (forbid_layer_push), and the image runs in containerd.
func TestPushAtBuildTime(t *testing.T) {
	casd, err := harness.StartCasd(harness.CasdOptions{Execute: true, Instance: "rules-img-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	reg, proxy := startProxiedRegistry(t, harness.RegistryOptions{})
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	ob, err := harness.TempDir("rules_img_e2e_buildtime-")
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: ws.Workspace, OutputBase: ob}
	t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })
	endpoint := "grpc://" + casd.Addr()
	flags := []string{
		"--disk_cache=",
		"--remote_executor=" + endpoint,
		"--remote_instance_name=rules-img-e2e",
		"--remote_download_minimal",
		`--remote_download_regex=.*\.json$`,
		"--extra_execution_platforms=//platforms:remote_linux_amd64",
		"--platforms=//platforms:linux_amd64",
		"--@rules_img//img/settings:remote_cache=" + endpoint,
		"--@rules_img//img/settings:remote_instance_name=rules-img-e2e",
		"--@rules_img//img/settings:destination_registry=" + proxy.Addr(),
	}
	image := descriptorOf(t, ws, "//hello:image")
	var layers []descriptor
	{
		var m manifest
		readJSON(t, blobPath(layoutOf(t, ws, "//hello:image"), image.Digest), &m)
		layers = m.Layers
	}

	t.Run("blobs at build time, manifest at bazel run", func(t *testing.T) {
		casd.Reset()
		proxy.Reset()
		execLog := filepath.Join(ob, "exec.json")
		r := b.Run(append([]string{"build", "//deploy:push_build_time", "--execution_log_json_file=" + execLog}, flags...)...)
		if r.Err != nil {
			t.Fatalf("build: %v\n%s", r.Err, tailLines(r.Stderr, 40))
		}
		ran := remoteSpawns(t, execLog, "PushImage")
		if ran["PushImage remote"] != len(layers)+1 {
			t.Errorf("PushImage spawns: %v, want %d executed remotely (each layer and the config)", ran, len(layers)+1)
		}
		st := proxy.Stats()
		var layerBytes int64
		for _, l := range layers {
			if st.BlobBytesIn[l.Digest] != l.Size {
				t.Errorf("layer %s: %d bytes reached the registry during the build, want %d", l.Digest, st.BlobBytesIn[l.Digest], l.Size)
			}
			if !blobExists(t, reg.Addr(), "e2e/staging", l.Digest) {
				t.Errorf("e2e/staging lacks layer %s", l.Digest)
			}
			layerBytes += l.Size
		}
		if read := casd.ByteStreamBytesRead(); read >= layerBytes {
			t.Errorf("Bazel read %d bytes from casd, the layers are %d: they passed through this machine", read, layerBytes)
		}
		t.Logf("build: %d layer bytes into the registry from the executor; Bazel read %d bytes from casd", layerBytes, casd.ByteStreamBytesRead())
		if _, _, err := harness.RawManifest(reg.Addr(), "e2e/build-time", "v1"); err == nil {
			t.Error("content blobs wrote the tag at build time")
		}

		proxy.Reset()
		out, err := bazelRun(t, b, "//deploy:push_build_time", flags)
		if err != nil {
			t.Fatal(err)
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/build-time", "v1"); err != nil || got != image.Digest {
			t.Fatalf("e2e/build-time:v1 is %s (%v), want %s:\n%s", got, err, image.Digest, out)
		}
		for _, l := range layers {
			if n := proxy.Stats().BlobBytesIn[l.Digest]; n != 0 {
				t.Errorf("bazel run uploaded %d bytes of layer %s, want it mounted from e2e/staging", n, l.Digest)
			}
		}
		if got := pullAndRun(t, ctrd, reg.Addr()+"/e2e/build-time:v1", "build-time-run"); !strings.Contains(got, "hello, rules_img") {
			t.Errorf("container printed %q", got)
		}
	})

	t.Run("the whole index at build time", func(t *testing.T) {
		r := b.Run(append([]string{"build", "//deploy:push_build_time_all"}, flags...)...)
		if r.Err != nil {
			t.Fatalf("build: %v\n%s", r.Err, tailLines(r.Stderr, 40))
		}
		index := descriptorOf(t, ws, "//hello:multiarch")
		raw, got, err := harness.RawManifest(reg.Addr(), "e2e/build-time-all", "v1")
		if err != nil || got != index.Digest {
			t.Fatalf("e2e/build-time-all:v1 is %s (%v), want the index %s", got, err, index.Digest)
		}
		var idx manifest
		if err := json.Unmarshal(raw, &idx); err != nil || len(idx.Manifests) != 2 {
			t.Fatalf("index %s: %v", raw, err)
		}
		if err := harness.VerifyImage(reg.Addr() + "/e2e/build-time-all:v1"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("through a registry gateway", func(t *testing.T) {
		// A registry that wants credentials; only the gateway has them.
		authReg, err := harness.StartRegistry(harness.RegistryOptions{User: "e2e", Password: "s3cret-gw"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(authReg.Stop)
		policy := fmt.Sprintf(`{"version": 1, "defaultAction": "deny", "rules": [
			{"description": "the index's repository", "action": "allow", "registry": %q, "repository": "e2e/build-time-all", "operations": ["*"]}
		]}`, authReg.Addr())
		config := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, authReg.Addr(), base64.StdEncoding.EncodeToString([]byte("e2e:s3cret-gw")))
		gw, err := harness.StartGateway(policy, config)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(gw.Stop)
		gwFlags := append(append([]string{}, flags...),
			"--@rules_img//img/settings:destination_registry="+authReg.Addr(),
			"--@rules_img//img/settings:registry_gateway="+gw.Endpoint())
		r := b.Run(append([]string{"build", "//deploy:push_build_time_all"}, gwFlags...)...)
		if r.Err != nil {
			t.Fatalf("build through the gateway: %v\n%s\ngateway:\n%s", r.Err, tailLines(r.Stderr, 30), gw.Log())
		}
		index := descriptorOf(t, ws, "//hello:multiarch")
		raw, err := harness.Skopeo("inspect", "--raw", "--tls-verify=false", "--creds", authReg.Creds(), "docker://"+authReg.Addr()+"/e2e/build-time-all:v1")
		if err != nil || oci.Digest(raw) != index.Digest {
			t.Fatalf("the index behind the gateway: %v\n%s", err, raw)
		}
		// The policy allows nothing else: the staging push is refused, naming the rule.
		r = b.Run(append([]string{"build", "//deploy:push_build_time"}, gwFlags...)...)
		if r.Err == nil || !strings.Contains(r.Stderr, "the registry gateway's policy denies blob:read and blob:write on "+authReg.Addr()+"/e2e/staging (blob:read: defaultAction deny") {
			t.Errorf("a push the policy denies should fail, naming the repository (%v):\n%s", r.Err, tailLines(r.Stderr, 20))
		}
		if strings.Contains(r.Stderr, "s3cret-gw") {
			t.Error("the build's output holds the gateway's password")
		}
	})

	t.Run("forbid_layer_push refuses to upload", func(t *testing.T) {
		out, err := bazelRun(t, b, "//deploy:push_forbidden", flags)
		if err == nil || !strings.Contains(out, "forbid_layer_push: refusing to upload layer sha256:") || !strings.Contains(out, "e2e/forbidden") {
			t.Errorf("want the push refused, naming the layer and the repository (%v):\n%s", err, tailLines(out, 15))
		}
		if _, _, err := harness.RawManifest(reg.Addr(), "e2e/forbidden", "v1"); err == nil {
			t.Error("the refused push left a tag")
		}
	})
}
