//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// remoteTargets are built locally and on the remote executor, and must give
// the same bytes: gzip, zstd and uncompressed layers, a tree artifact, a
// binary's runfiles with another binary in them, a manifest and a
// two-platform index.
var remoteTargets = []string{
	"//hello:app_layer", "//hello:zstd_layer", "//tree:layer", "//runfiles:layer",
	"//hello:image", "//runfiles:image", "//hello:multiarch",
}

// imageMnemonics are the actions that must run remotely.
var imageMnemonics = []string{"ImageLayer", "ImageManifest", "ImageIndex"}

// TestRemoteExecution builds the e2e images on buildbox-casd's Execution
// service with --remote_download_minimal, checks that every image action
// ran there and that every layer, config, manifest and index is byte-for-byte
// what a local build gives, then pushes and loads lazily from casd's CAS and
// runs the images.
//
// The build also pins down where the tool runs: Bazel is told that its host
// is a macOS machine, and the only Linux execution platform carries a
// constraint the host lacks. So every img action, and img itself, must be
// resolved for the remote executor's platform, not for the host.
func TestRemoteExecution(t *testing.T) {
	casd, err := harness.StartCasd(harness.CasdOptions{Execute: true, Instance: "rules-img-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
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

	// The local build: the shared workspace's output base, with its sandbox.
	local := map[string][]byte{}
	if _, err := ws.Must(append([]string{"build"}, remoteTargets...)...); err != nil {
		t.Fatal(err)
	}
	for _, target := range remoteTargets {
		files, err := ws.OutputFiles(target, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".json") {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				local[target+" "+filepath.Base(f)] = b
			}
		}
	}

	ob, err := harness.TempDir("rules_img_e2e_remote-")
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: ws.Workspace, OutputBase: ob, Env: []string{
		"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })
	execLog := filepath.Join(ob, "exec.json")
	endpoint := "grpc://" + casd.Addr()
	flags := []string{
		"--disk_cache=", // the machine-wide one would turn the build into local hits
		"--remote_executor=" + endpoint,
		"--remote_instance_name=rules-img-e2e",
		"--remote_download_minimal",
		// Metadata only: the blobs stay in casd.
		`--remote_download_regex=.*\.json$`,
		"--host_platform=//platforms:macos_host",
		"--extra_execution_platforms=//platforms:remote_linux_amd64",
		"--platforms=//platforms:linux_amd64",
		"--@rules_img//img/settings:remote_cache=" + endpoint,
		"--@rules_img//img/settings:remote_instance_name=rules-img-e2e",
	}

	t.Run("same digests as a local build", func(t *testing.T) {
		args := append(append([]string{"build"}, remoteTargets...), append(flags, "--execution_log_json_file="+execLog)...)
		if _, err := b.Must(args...); err != nil {
			t.Fatal(err)
		}
		ran := remoteSpawns(t, execLog)
		t.Logf("spawns by mnemonic and runner: %v", ran)
		for _, m := range imageMnemonics {
			if ran[m+" remote"] == 0 {
				t.Errorf("no %s action executed remotely", m)
			}
			for k, n := range ran {
				if strings.HasPrefix(k, m+" ") && k != m+" remote" {
					t.Errorf("%d %s actions ran as %q, want all executed remotely", n, m, strings.TrimPrefix(k, m+" "))
				}
			}
		}
		if !strings.Contains(casd.Log(), "ImageLayer") {
			t.Errorf("casd's log names no ImageLayer action:\n%s", tailLines(casd.Log(), 20))
		}
		compared := 0
		for _, target := range remoteTargets {
			files, err := b.OutputFiles(target, "", flags...)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				key := target + " " + filepath.Base(f)
				if !strings.HasSuffix(f, ".json") {
					if _, err := os.Stat(f); err == nil {
						t.Errorf("%s was downloaded; --remote_download_minimal should leave blobs remote", f)
					}
					continue
				}
				got, err := os.ReadFile(f)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				if string(got) != string(local[key]) {
					t.Errorf("%s differs between the local and the remote build:\nlocal:  %s\nremote: %s", key, local[key], got)
				}
				compared++
			}
		}
		if compared < len(remoteTargets) {
			t.Errorf("compared only %d metadata files", compared)
		}
		t.Logf("%d metadata files identical", compared)
	})

	t.Run("the tool is resolved for the executor", func(t *testing.T) {
		out, err := b.Must(append([]string{"aquery", "mnemonic(ImageLayer, //hello:app_layer)"}, flags...)...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Execution platform: //platforms:remote_linux_amd64") {
			t.Errorf("the layer action's execution platform is not the remote one:\n%s", out)
		}
	})

	t.Run("lazy push streams from casd", func(t *testing.T) {
		image := local["//hello:image image.descriptor.json"]
		var want descriptor
		if err := json.Unmarshal(image, &want); err != nil {
			t.Fatalf("descriptor of //hello:image: %v (%s)", err, image)
		}
		var m manifest
		if err := json.Unmarshal(local["//hello:image image.manifest.json"], &m); err != nil || len(m.Layers) == 0 {
			t.Fatalf("manifest of //hello:image: %v", err)
		}
		casd.Reset()
		out, err := bazelRun(t, b, "//deploy:push_lazy", flags, "--registry", reg.Addr(), "--repository", "e2e/remote")
		if err != nil {
			t.Fatal(err)
		}
		t.Log(tailLines(out, 8))
		for _, l := range m.Layers {
			if casd.BlobReads(l.Digest) == 0 {
				t.Errorf("layer %s did not stream from casd's ByteStream", l.Digest)
			}
		}
		t.Logf("%d ByteStream bytes read from casd in all (Bazel's runfiles downloads included)", casd.ByteStreamBytesRead())
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/remote", "v1"); err != nil || got != want.Digest {
			t.Fatalf("e2e/remote:v1 is %s (%v), want %s", got, err, want.Digest)
		}
		if err := harness.VerifyImage(reg.Addr() + "/e2e/remote:v1"); err != nil {
			t.Fatal(err)
		}
		if got := pullAndRun(t, ctrd, reg.Addr()+"/e2e/remote:v1", "remote-push"); !strings.Contains(got, "hello, rules_img") {
			t.Errorf("container printed %q", got)
		}
	})

	t.Run("lazy load streams from casd", func(t *testing.T) {
		var m manifest
		if err := json.Unmarshal(local["//runfiles:image image.manifest.json"], &m); err != nil || len(m.Layers) != 2 {
			t.Fatalf("manifest of //runfiles:image: %v", err)
		}
		casd.Reset()
		out, err := bazelRun(t, b, "//deploy:load_lazy", flags, "--daemon", "containerd")
		if err != nil {
			t.Fatal(err)
		}
		t.Log(tailLines(out, 8))
		for _, l := range m.Layers {
			if casd.BlobReads(l.Digest) == 0 {
				t.Errorf("layer %s did not stream from casd's ByteStream", l.Digest)
			}
		}
		// The runner execs a binary from its runfiles: it only works if that
		// binary's mode was decided as executable.
		got, err := ctrd.Run("docker.io/e2e/runfiles:v1", "remote-load")
		if err != nil || !strings.Contains(got, "runner: helper ran; data: runfiles data") {
			t.Fatalf("run: %v %q", err, got)
		}
	})
}

// remoteSpawns counts the execution log's spawns of the image mnemonics by
// "MNEMONIC RUNNER", with remote cache hits counted as "MNEMONIC cache hit".
func remoteSpawns(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	// The file is a stream of JSON objects, one spawn each.
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var s struct {
			Mnemonic       string `json:"mnemonic"`
			Runner         string `json:"runner"`
			RemoteCacheHit bool   `json:"remoteCacheHit"`
		}
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		keep := false
		for _, m := range imageMnemonics {
			keep = keep || s.Mnemonic == m
		}
		if !keep {
			continue
		}
		runner := s.Runner
		if s.RemoteCacheHit {
			runner = "cache hit"
		}
		counts[s.Mnemonic+" "+runner]++
	}
	return counts
}
