//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
)

// testBESPush builds //bes push targets remotely (TestRemoteExecution's
// output base and flags) with the Build Event Service backend as
// --bes_backend: the images reach the registry during `bazel build`, from
// casd, with no layer byte going through Bazel. Then a no-op rebuild, a
// registry that answers 503 to a share of requests, and one that refuses
// every write, which the build must report.
func testBESPush(t *testing.T, casd *harness.Casd, ctrd *harness.Containerd, b *harness.Bazel, flags []string, local map[string][]byte) {
	// The backend reads casd directly, so the adapter's counters are
	// Bazel's alone.
	bes, err := harness.StartBES("grpc://" + casd.Direct())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bes.Stop)
	reg, proxy := startProxiedRegistry(t, harness.RegistryOptions{})
	want := map[string]string{ // repository -> digest
		"e2e/bes-hello": localDigest(t, local, "//hello:image"),
		"e2e/bes-multi": localDigest(t, local, "//hello:multiarch"),
	}
	var m manifest
	if err := json.Unmarshal(local["//hello:image image.manifest.json"], &m); err != nil || len(m.Layers) == 0 {
		t.Fatalf("manifest of //hello:image: %v", err)
	}
	build := func(registry string) (harness.Result, time.Duration) {
		args := append([]string{"build", "//bes:hello", "//bes:multiarch"}, flags...)
		args = append(args, "--bes_backend=grpc://"+bes.Addr(),
			"--@rules_img//img/settings:push_strategy=bes",
			"--@rules_img//img/settings:destination_registry="+registry)
		start := time.Now()
		r := b.Run(args...)
		return r, time.Since(start)
	}

	casd.Reset()
	r, took := build(proxy.Addr())
	if r.Err != nil {
		t.Fatalf("build with the bes backend: %v\n%s\nbackend log:\n%s", r.Err, tailLines(r.Stderr, 30), tailLines(bes.Log(), 30))
	}
	t.Logf("build + push: %v; backend log:\n%s", took.Round(time.Millisecond), tailLines(bes.Log(), 12))
	for repo, digest := range want {
		for _, tag := range []string{"v1"} {
			if _, got, err := harness.RawManifest(reg.Addr(), repo, tag); err != nil || got != digest {
				t.Fatalf("%s:%s is %s (%v), want %s (the local build's)", repo, tag, got, err, digest)
			}
		}
		if err := harness.VerifyImage(reg.Addr() + "/" + repo + ":v1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, got, err := harness.RawManifest(reg.Addr(), "e2e/bes-hello", "latest"); err != nil || got != want["e2e/bes-hello"] {
		t.Errorf("e2e/bes-hello:latest is %s (%v)", got, err)
	}
	stats := proxy.Stats()
	for _, l := range m.Layers {
		if n := casd.BlobReads(l.Digest); n != 0 {
			t.Errorf("Bazel read layer %s from casd %d times; the backend alone should", l.Digest, n)
		}
		// Both repositories need it; the second push mounts it.
		if got := stats.BlobBytesIn[l.Digest]; got != l.Size {
			t.Errorf("layer %s: %d bytes uploaded to the registry, want %d (once)", l.Digest, got, l.Size)
		}
	}
	t.Logf("Bazel read %d ByteStream bytes from casd (metadata only); the registry received %d blob bytes", casd.ByteStreamBytesRead(), stats.Blobs.BytesIn)
	if got := pullAndRun(t, ctrd, reg.Addr()+"/e2e/bes-hello:v1", "bes-push"); !strings.Contains(got, "hello, rules_img") {
		t.Errorf("container printed %q", got)
	}

	t.Run("no-op rebuild uploads nothing", func(t *testing.T) {
		proxy.Reset()
		r, took := build(proxy.Addr())
		if r.Err != nil {
			t.Fatalf("%v\n%s", r.Err, tailLines(r.Stderr, 20))
		}
		if n := proxy.Stats().Blobs.BytesIn; n != 0 {
			t.Errorf("a no-op rebuild uploaded %d blob bytes", n)
		}
		t.Logf("no-op build + push: %v, %d registry requests", took.Round(time.Millisecond), proxy.Stats().Total().Requests)
	})

	t.Run("503s", func(t *testing.T) {
		reg2, err := harness.StartRegistry(harness.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg2.Stop)
		fp, err := harness.StartFaultProxy(reg2.Addr(), harness.FaultOptions{Fail503Every: 3, MaxInARow: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fp.Stop)
		r, _ := build(fp.Addr())
		if r.Err != nil {
			t.Fatalf("push through a registry that answers 503 to every third request: %v\n%s\nbackend:\n%s", r.Err, tailLines(r.Stderr, 20), tailLines(bes.Log(), 20))
		}
		if fp.Injected() == 0 {
			t.Fatal("the proxy injected no fault")
		}
		for repo, digest := range want {
			if _, got, err := harness.RawManifest(reg2.Addr(), repo, "v1"); err != nil || got != digest {
				t.Fatalf("%s:v1 is %s (%v), want %s", repo, got, err, digest)
			}
			if err := harness.VerifyImage(reg2.Addr() + "/" + repo + ":v1"); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%d faults injected in %d requests; both images arrived whole", fp.Injected(), fp.Requests())
	})

	t.Run("a backend restarted mid-push", func(t *testing.T) {
		// The registry holds the backend's first request; the backend is
		// restarted while its push is in flight. Bazel resends the events
		// nobody acknowledged, and the new backend pushes.
		reg4, gate := startProxiedRegistry(t, harness.RegistryOptions{})
		gate.Hold()
		t.Cleanup(gate.Release)
		done := make(chan harness.Result, 1)
		go func() { r, _ := build(gate.Addr()); done <- r }()
		for deadline := time.Now().Add(2 * time.Minute); gate.Held() == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the backend sent the registry nothing")
			}
		}
		if err := bes.Restart(); err != nil {
			t.Fatal(err)
		}
		gate.Release()
		r := <-done
		if r.Err != nil {
			t.Fatalf("the build failed across the backend's restart: %v\n%s\nnew backend:\n%s", r.Err, tailLines(r.Stderr, 20), tailLines(bes.Log(), 20))
		}
		for repo, digest := range want {
			if _, got, err := harness.RawManifest(reg4.Addr(), repo, "v1"); err != nil || got != digest {
				t.Fatalf("%s:v1 is %s (%v), want %s", repo, got, err, digest)
			}
			if err := harness.VerifyImage(reg4.Addr() + "/" + repo + ":v1"); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("after the restart the new backend logged:\n%s", tailLines(bes.Log(), 6))
	})

	t.Run("the backend signs with its own signer", func(t *testing.T) {
		password, key, pub := cosignKeys(t, t.TempDir())
		// The key reaches the backend's environment, never the build's.
		t.Setenv("COSIGN_PASSWORD", password)
		t.Setenv("COSIGN_KEY", key)
		signer, err := harness.StartBES("grpc://"+casd.Direct(), "--signer", "cosign",
			"--signer-arg", "--key=env://COSIGN_KEY", "--signer-arg", "--tlog-upload=false")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(signer.Stop)
		args := append([]string{"build", "//bes:signed"}, flags...)
		args = append(args, "--bes_backend=grpc://"+signer.Addr(), "--@rules_img//img/settings:destination_registry="+reg.Addr())
		if r := b.Run(args...); r.Err != nil {
			t.Fatalf("build: %v\n%s\nbackend log:\n%s", r.Err, tailLines(r.Stderr, 20), tailLines(signer.Log(), 20))
		}
		ref := reg.Addr() + "/e2e/bes-signed:v1"
		out, err := exec.Command("cosign", "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", ref).CombinedOutput()
		if err != nil {
			t.Fatalf("cosign verify %s: %v\n%s\nbackend log:\n%s", ref, err, out, tailLines(signer.Log(), 20))
		}
		if got := oras(t, "discover", "--plain-http", ref); !strings.Contains(got, "application/spdx+json") {
			t.Errorf("the SBOM is not among the referrers:\n%s", got)
		}
		if strings.Contains(signer.Log(), password) {
			t.Error("the backend logged the key's password")
		}
		// The first backend has no signer: the push fails before its tag.
		args[len(args)-2] = "--bes_backend=grpc://" + bes.Addr()
		r := b.Run(args...)
		if r.Err == nil || !strings.Contains(bes.Log(), "has no signer: start img bes with --signer") {
			t.Errorf("a backend without a signer: %v\n%s", r.Err, tailLines(bes.Log(), 10))
		}
	})

	t.Run("the log keeps the CAS password out", func(t *testing.T) {
		// Nothing listens there: the backend opens the CAS on the first event.
		other, err := harness.StartBES("grpcs://builder:s3cret-pw@127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Stop()
		log := other.Log()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log, "listening on") && time.Now().Before(deadline); log = other.Log() {
			time.Sleep(50 * time.Millisecond)
		}
		if strings.Contains(log, "s3cret-pw") || !strings.Contains(log, "CAS grpcs://127.0.0.1:1") {
			t.Errorf("the backend's log should name the CAS without its password:\n%s", log)
		}
	})

	t.Run("bazel run @rules_img//cmd/bes", func(t *testing.T) {
		// The way the guide starts the backend, from a user's workspace.
		r := ws.Run("run", "@rules_img//cmd/bes", "--", "-h")
		if r.Err != nil || !strings.Contains(r.Stderr, "--cas-endpoint") {
			t.Fatalf("%v\n%s", r.Err, tailLines(r.Stderr, 20))
		}
	})

	t.Run("a failed push fails the build", func(t *testing.T) {
		reg3, err := harness.StartRegistry(harness.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg3.Stop)
		fp, err := harness.StartFaultProxy(reg3.Addr(), harness.FaultOptions{FailAll: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(fp.Stop)
		r, _ := build(fp.Addr())
		if r.Err == nil {
			t.Fatalf("the build succeeded although the registry refused every request:\n%s", tailLines(r.Stderr, 20))
		}
		for _, s := range []string{"//bes:hello", "//bes:multiarch", "image push(es) failed"} {
			if !strings.Contains(r.Stderr, s) {
				t.Errorf("Bazel's output does not mention %q:\n%s", s, tailLines(r.Stderr, 20))
			}
		}
		for _, s := range []string{"FAILED //bes:hello", "FAILED //bes:multiarch"} {
			if !strings.Contains(bes.Log(), s) {
				t.Errorf("the backend's log does not say %q:\n%s", s, tailLines(bes.Log(), 20))
			}
		}
		if _, _, err := harness.RawManifest(reg3.Addr(), "e2e/bes-hello", "v1"); err == nil {
			t.Error("e2e/bes-hello:v1 exists after a failed push")
		}
		t.Logf("Bazel ended with %v and reported:\n%s", r.Err, tailLines(r.Stderr, 8))
	})
}

// localDigest is the digest in the descriptor a local build of target wrote.
func localDigest(t *testing.T, local map[string][]byte, target string) string {
	t.Helper()
	for k, v := range local {
		if strings.HasPrefix(k, target+" ") && strings.HasSuffix(k, "descriptor.json") {
			var d descriptor
			if err := json.Unmarshal(v, &d); err != nil {
				t.Fatal(err)
			}
			return d.Digest
		}
	}
	t.Fatalf("no descriptor of %s among the local outputs", target)
	return ""
}
