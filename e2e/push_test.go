//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// descriptorOf builds target and returns the digest in its descriptor.
func descriptorOf(t *testing.T, b *harness.Bazel, target string, flags ...string) descriptor {
	t.Helper()
	if _, err := b.Must(append([]string{"build", target, "--output_groups=+descriptor"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	files, err := b.OutputFiles(target, "descriptor", flags...)
	if err != nil || len(files) != 1 {
		t.Fatalf("%s: descriptor output: %v %v", target, files, err)
	}
	var d descriptor
	readJSON(t, files[0], &d)
	return d
}

// bazelRun runs a push or load target and returns its combined output.
func bazelRun(t *testing.T, b *harness.Bazel, target string, flags []string, args ...string) (string, error) {
	t.Helper()
	all := append(append([]string{"run", target}, flags...), "--")
	r := b.Run(append(all, args...)...)
	out := r.Stdout + r.Stderr
	if r.Err != nil {
		return out, fmt.Errorf("bazel run %s: %v\n%s", target, r.Err, tailLines(out, 40))
	}
	return out, nil
}

// launcherOf builds //pkg:name, a push or load target of ws, and returns
// the launcher `bazel run` would execute, with the runfiles dir it needs.
func launcherOf(t *testing.T, pkg, name string) (launcher string, env []string) {
	t.Helper()
	if _, err := ws.Must("build", "//"+pkg+":"+name); err != nil {
		t.Fatal(err)
	}
	bin, err := ws.Info("bazel-bin")
	if err != nil {
		t.Fatal(err)
	}
	launcher = filepath.Join(bin, pkg, name+".sh")
	// Set explicitly: an inherited RUNFILES_DIR would point it elsewhere.
	return launcher, []string{"RUNFILES_DIR=" + launcher + ".runfiles"}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func uploads(s harness.ProxyStats) (posts int, bytesIn int64) {
	for _, r := range s.Requests {
		if r.Category == harness.Blobs && (r.Method == "POST" || r.Method == "PATCH" || r.Method == "PUT") {
			if r.Method == "POST" {
				posts++
			}
			bytesIn += r.BytesIn
		}
	}
	return posts, bytesIn
}

// pullAndRun pulls ref from a plain-HTTP registry into containerd and runs it.
func pullAndRun(t *testing.T, c *harness.Containerd, ref, id string, args ...string) string {
	t.Helper()
	if _, err := c.Ctr("images", "pull", "--plain-http", "--snapshotter", "native", ref); err != nil {
		t.Fatal(err)
	}
	out, err := c.Run(ref, id, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startProxiedRegistry starts a CNCF Distribution registry and a
// byte-counting proxy in front of it, both stopped when the test ends.
func startProxiedRegistry(t *testing.T, opts harness.RegistryOptions) (*harness.Registry, *harness.Proxy) {
	t.Helper()
	reg, err := harness.StartRegistry(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	proxy, err := harness.StartProxy(reg.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	return reg, proxy
}

func TestPush(t *testing.T) {
	reg, proxy := startProxiedRegistry(t, harness.RegistryOptions{})
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	image := descriptorOf(t, ws, "//hello:image")

	t.Run("manifest", func(t *testing.T) {
		proxy.Reset()
		out, err := bazelRun(t, ws, "//deploy:push", nil, "--registry", proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		want := proxy.Addr() + "/e2e/hello@" + image.Digest
		if !strings.Contains(out, want) || !strings.Contains(out, proxy.Addr()+"/e2e/hello:v1") {
			t.Errorf("output lacks %s and its tag:\n%s", want, out)
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/hello", "v1"); err != nil || got != image.Digest {
			t.Fatalf("registry serves %s for v1 (%v), want %s", got, err, image.Digest)
		}
		if err := harness.VerifyImage(reg.Addr() + "/e2e/hello:v1"); err != nil {
			t.Fatal(err)
		}
		if posts, _ := uploads(proxy.Stats()); posts == 0 {
			t.Error("the first push started no upload")
		}
		got := pullAndRun(t, ctrd, reg.Addr()+"/e2e/hello:v1", "push-run")
		if !strings.Contains(got, "hello, rules_img from linux/amd64") {
			t.Errorf("container printed %q", got)
		}
	})

	t.Run("unchanged image uploads no blob", func(t *testing.T) {
		proxy.Reset()
		out, err := bazelRun(t, ws, "//deploy:push", nil, "--registry", proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		posts, bytesIn := uploads(proxy.Stats())
		if posts != 0 || bytesIn != 0 {
			t.Errorf("re-push started %d uploads with %d bytes, want none:\n%s", posts, bytesIn, out)
		}
		if !regexp.MustCompile(`0 uploaded`).MatchString(out) {
			t.Errorf("summary should say nothing was uploaded:\n%s", out)
		}
	})

	t.Run("deduplicated push into a blob repository", func(t *testing.T) {
		proxy.Reset()
		out, err := bazelRun(t, ws, "//deploy:deploy_home", nil, "--registry", proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		raw, got, err := harness.RawManifest(reg.Addr(), "e2e/home-b", "v1")
		if err != nil || got != image.Digest {
			t.Fatalf("e2e/home-b:v1 is %s (%v)\n%s", got, err, out)
		}
		var m manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		st := proxy.Stats()
		artificial := 0
		for _, r := range st.Requests {
			if r.Method == "PUT" && strings.HasPrefix(r.Path, "/v2/e2e/shared-blobs/manifests/sha256:") {
				artificial++
			}
		}
		for _, l := range m.Layers {
			if n := st.BlobBytesIn[l.Digest]; n > l.Size {
				t.Errorf("layer %s: %d bytes uploaded, want it uploaded once (%d)", l.Digest, n, l.Size)
			}
			if !blobExists(t, reg.Addr(), "e2e/shared-blobs", l.Digest) {
				t.Errorf("e2e/shared-blobs lacks layer %s", l.Digest)
			}
		}
		if artificial != len(m.Layers) {
			t.Errorf("%d manifests written into e2e/shared-blobs, want one per layer (%d)", artificial, len(m.Layers))
		}
		if got := pullAndRun(t, ctrd, reg.Addr()+"/e2e/home-a:v1", "home-a-run"); !strings.Contains(got, "hello, rules_img") {
			t.Errorf("container printed %q", got)
		}
	})

	t.Run("cross_mount_from", func(t *testing.T) {
		// //deploy:push put the image into e2e/hello above.
		proxy.Reset()
		out, err := bazelRun(t, ws, "//deploy:push_mount_from", nil, "--registry", proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := harness.RawManifest(reg.Addr(), "e2e/mounted", "v1")
		if err != nil {
			t.Fatal(err)
		}
		var m manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		st := proxy.Stats()
		for _, l := range m.Layers {
			if n := st.BlobBytesIn[l.Digest]; n != 0 {
				t.Errorf("layer %s: %d bytes uploaded, want it mounted from e2e/hello:\n%s", l.Digest, n, out)
			}
		}
		if !strings.Contains(out, fmt.Sprintf("%d mounted", len(m.Layers))) {
			t.Errorf("summary should count the mounts:\n%s", out)
		}
	})

	t.Run("index", func(t *testing.T) {
		index := descriptorOf(t, ws, "//hello:multiarch")
		if _, err := bazelRun(t, ws, "//deploy:push_index", nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		for _, tag := range []string{"v1", "latest"} {
			if _, got, err := harness.RawManifest(reg.Addr(), "e2e/multi", tag); err != nil || got != index.Digest {
				t.Fatalf("e2e/multi:%s is %s (%v), want %s", tag, got, err, index.Digest)
			}
		}
		arm, err := harness.Skopeo("inspect", "--tls-verify=false", "--override-arch", "arm64", "docker://"+reg.Addr()+"/e2e/multi:v1")
		if err != nil || !strings.Contains(string(arm), `"Architecture": "arm64"`) {
			t.Fatalf("arm64 image of the index: %v\n%s", err, arm)
		}
		if err := harness.VerifyImage(reg.Addr() + "/e2e/multi:v1"); err != nil {
			t.Fatal(err)
		}
		got := pullAndRun(t, ctrd, reg.Addr()+"/e2e/multi:v1", "push-index-run")
		if !strings.Contains(got, "linux/amd64 args=one") {
			t.Errorf("container printed %q", got)
		}
	})

	t.Run("run-time overrides", func(t *testing.T) {
		if _, err := bazelRun(t, ws, "//deploy:push", nil, "--registry", reg.Addr(), "--repository", "e2e/other", "--tag", "a", "--tag", "b"); err != nil {
			t.Fatal(err)
		}
		// --tag adds to the target's tag (v1), as in upstream rules_img.
		for _, tag := range []string{"v1", "a", "b"} {
			if _, got, err := harness.RawManifest(reg.Addr(), "e2e/other", tag); err != nil || got != image.Digest {
				t.Fatalf("e2e/other:%s is %s (%v)", tag, got, err)
			}
		}
	})

	t.Run("changed build output", func(t *testing.T) {
		// The launcher reads layers from the runfiles without hashing them
		// (the build computed their digests); when one changed since, the
		// registry's digest check must refuse it and nothing be tagged.
		launcher, env := launcherOf(t, "deploy", "push")
		var spec struct {
			Image struct {
				Manifests []struct{ Layers []struct{ Blob string } }
			}
		}
		readJSON(t, strings.TrimSuffix(launcher, ".sh")+".deploy.json", &spec)
		layers := spec.Image.Manifests[0].Layers
		blob := layers[len(layers)-1].Blob
		if blob == "" {
			t.Fatalf("//deploy:push is not eager: %+v", spec)
		}
		path, err := filepath.EvalSymlinks(filepath.Join(launcher+".runfiles", "_main", blob))
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil || st.Nlink != 1 {
			t.Fatalf("%s: %d links (%v): changing it could change a cache entry too", path, st.Nlink, err)
		}
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Clone(orig)
		changed[len(changed)/2] ^= 0xff
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(launcher, "--registry", reg.Addr(), "--repository", "e2e/changed")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("a changed layer was pushed:\n%s", out)
		}
		for _, want := range []string{"//deploy:push", "do not match their digest", "bazel run"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("error lacks %q:\n%s", want, out)
			}
		}
		if _, _, err := harness.RawManifest(reg.Addr(), "e2e/changed", "v1"); err == nil {
			t.Error("e2e/changed:v1 exists after the push failed")
		}
		// As the error says: bazel run notices the changed output, rebuilds
		// it, and the push goes through.
		if _, err := bazelRun(t, ws, "//deploy:push", nil, "--registry", reg.Addr(), "--repository", "e2e/changed"); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, orig) {
			t.Errorf("bazel run did not restore %s (%v)", path, err)
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/changed", "v1"); err != nil || got != image.Digest {
			t.Errorf("e2e/changed:v1 = %s (%v), want %s", got, err, image.Digest)
		}
	})

	t.Run("faults", func(t *testing.T) {
		fp, err := harness.StartFaultProxy(reg.Addr(), harness.FaultOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fp.Stop)
		// Several patterns, so that each kind of request meets 503s and cut
		// connections; a third to two fifths of all requests fail. No request
		// fails more than twice in a row, and the push tries each five
		// times, so a failure here is a fault mishandled, not bad luck.
		for i, opts := range []harness.FaultOptions{
			{Fail503Every: 3, DropEvery: 7, MaxInARow: 2},
			{Fail503Every: 4, DropEvery: 6, MaxInARow: 2},
			{DropEvery: 3, MaxInARow: 2},
		} {
			fp.SetOptions(opts)
			before, requests := fp.Injected(), fp.Requests()
			repo := fmt.Sprintf("e2e/faulty%d", i)
			out, err := bazelRun(t, ws, "//deploy:push_index", nil, "--registry", fp.Addr(), "--repository", repo)
			if err != nil {
				t.Fatalf("push through a faulty proxy (%+v): %v\nfaults: %v", opts, err, fp.Faults())
			}
			if fp.Injected() == before {
				t.Fatalf("the proxy injected no fault (%+v):\n%s", opts, out)
			}
			if err := harness.VerifyImage(reg.Addr() + "/" + repo + ":v1"); err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v: %d faults injected in %d requests", opts, fp.Injected()-before, fp.Requests()-requests)
		}

		// A push whose tag cannot be written leaves the old tag alone.
		fp.SetOptions(harness.FaultOptions{FailAll: true})
		if _, err := bazelRun(t, ws, "//deploy:push_index", nil, "--registry", fp.Addr(), "--repository", "e2e/hello", "--tag", "v1"); err == nil {
			t.Fatal("push succeeded although every tag write failed")
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/hello", "v1"); err != nil || got != image.Digest {
			t.Fatalf("e2e/hello:v1 moved to %s (%v) after a failed push", got, err)
		}
	})

	t.Run("multi_deploy", func(t *testing.T) {
		b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
			"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
		}}
		out, err := bazelRun(t, b, "//deploy:deploy_all", nil, "--registry", reg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "3 operations, 3 succeeded, 0 failed") {
			t.Errorf("summary missing:\n%s", out)
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/hello", "v1"); err != nil || got != image.Digest {
			t.Fatalf("multi_deploy push: %s %v", got, err)
		}
		if got, err := ctrd.Run(helloRef, "multi-deploy-run"); err != nil || !strings.Contains(got, "hello, rules_img") {
			t.Fatalf("multi_deploy load: %v %q", err, got)
		}
		// deploy_operations = ["push"]: the same operations but the load.
		out, err = bazelRun(t, b, "//deploy:push_all", nil, "--registry", reg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "2 operations, 2 succeeded, 0 failed") {
			t.Errorf("deploy_operations = [\"push\"] ran more than the pushes:\n%s", out)
		}
	})

	t.Run("stamping", func(t *testing.T) {
		status := filepath.Join(ws.Workspace, "deploy", "status.sh")
		stamped := &harness.Bazel{Workspace: ws.Workspace, Env: []string{"E2E_STAMP_VALUE=abc123"}}
		flags := []string{"--workspace_status_command=" + status}
		out, err := bazelRun(t, stamped, "//deploy:push_stamped", flags, "--registry", reg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "needs stamping") {
			t.Errorf("unstamped push should say the template tag was skipped:\n%s", out)
		}
		if _, _, err := harness.RawManifest(reg.Addr(), "e2e/stamped", "build-abc123"); err == nil {
			t.Fatal("stamped tag exists without --stamp")
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/stamped", "fixed"); err != nil || got != image.Digest {
			t.Fatalf("fixed tag: %s %v", got, err)
		}
		if _, err := bazelRun(t, stamped, "//deploy:push_stamped", append(flags, "--stamp"), "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/stamped", "build-abc123"); err != nil || got != image.Digest {
			t.Fatalf("stamped tag: %s %v", got, err)
		}
	})
}

// blobExists asks a plain-HTTP registry whether repo holds digest.
func blobExists(t *testing.T, addr, repo, digest string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/v2/"+repo+"/blobs/"+digest, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
