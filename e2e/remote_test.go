//go:build e2e

package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// remoteTargets are built locally and on the remote executor, and must give
// the same bytes: gzip, zstd and uncompressed layers, a tree artifact, a
// binary's runfiles with another binary in them, a manifest and a
// two-platform index, eStargz layers (from files and from a tar) with
// their image, and a base layer merged from base_images.bzl's pieces.
var remoteTargets = []string{
	"//hello:app_layer", "//hello:zstd_layer", "//tree:layer", "//runfiles:layer",
	"//hello:image", "//runfiles:image", "//hello:multiarch",
	"//estargz:app_layer", "//estargz:tar_layer", "//estargz:image",
	"//bespoke:base_layer",
}

// imageMnemonics are the actions that must run remotely.
var imageMnemonics = []string{"ImageLayer", "ImageManifest", "ImageIndex", "ImageBaseContent"}

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
	runFlags := []string{
		"--disk_cache=", // the machine-wide one would turn the build into local hits
		"--remote_executor=" + endpoint,
		"--remote_instance_name=rules-img-e2e",
		"--remote_download_minimal",
		// Metadata only: the blobs stay in casd.
		`--remote_download_regex=.*\.json$`,
		"--extra_execution_platforms=//platforms:remote_linux_amd64",
		"--platforms=//platforms:linux_amd64",
		"--@rules_img//img/settings:remote_cache=" + endpoint,
		"--@rules_img//img/settings:remote_instance_name=rules-img-e2e",
	}
	// The builds claim a macOS host; `bazel run` cannot, since it starts
	// the launcher here.
	flags := append([]string{"--host_platform=//platforms:macos_host"}, runFlags...)

	t.Run("same digests as a local build", func(t *testing.T) {
		args := append(append([]string{"build"}, remoteTargets...), append(flags, "--execution_log_json_file="+execLog)...)
		casd.Reset()
		r := b.Run(args...)
		if r.Err != nil {
			t.Fatalf("remote build: %v\n%s", r.Err, tailLines(r.Stderr, 40))
		}
		for _, line := range strings.Split(r.Stderr, "\n") {
			if strings.Contains(line, "processes:") {
				t.Logf("remote build: %s", strings.TrimSpace(line))
			}
		}
		t.Logf("remote build: %d Execute calls, %d ByteStream bytes and %d BatchReadBlobs calls down from casd",
			casd.Calls("/build.bazel.remote.execution.v2.Execution/Execute"), casd.ByteStreamBytesRead(),
			casd.Calls("/build.bazel.remote.execution.v2.ContentAddressableStorage/BatchReadBlobs"))
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
		compared, leftRemote, downloaded := 0, int64(0), int64(0)
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
				downloaded += int64(len(got))
				var d struct{ Size int64 }
				if strings.HasSuffix(f, ".layer.json") && json.Unmarshal(got, &d) == nil {
					leftRemote += d.Size
				}
				compared++
				if string(got) != string(local[key]) {
					t.Errorf("%s differs between the local and the remote build:\nlocal:  %s\nremote: %s", key, local[key], got)
					compared--
				}
			}
		}
		if compared < len(remoteTargets) {
			t.Errorf("only %d metadata files are identical", compared)
		}
		t.Logf("%d metadata files identical; %d bytes of them downloaded, %d bytes of top-level layer blobs left in casd", compared, downloaded, leftRemote)
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

	t.Run("launchers run the host's img", func(t *testing.T) {
		// With an arm64 executor beside this amd64 machine, actions must get
		// the released img for the executor and launchers, which `bazel run`
		// starts here, the one for the host. Analysis shows it; nothing is
		// built, so the executor's Go SDK (for //hello) only needs to exist
		// for toolchain resolution.
		sdk := fakeArm64GoSDK(t)
		arm := []string{"--extra_execution_platforms=//platforms:remote_linux_arm64", "--platforms=//platforms:linux_amd64",
			"--override_repository=rules_go~~go_sdk~rules_go__download_0_linux_arm64=" + sdk}
		// The launcher script names the img it runs.
		out, err := b.Must(append([]string{"aquery", `mnemonic("FileWrite", //deploy:push_lazy)`, "--include_file_write_contents"}, arm...)...)
		if err != nil {
			t.Fatal(err)
		}
		var script string
		for _, m := range regexp.MustCompile(`FileWriteContents: \[([A-Za-z0-9+/=]+)\]`).FindAllStringSubmatch(out, -1) {
			if text, err := base64.StdEncoding.DecodeString(m[1]); err == nil && strings.Contains(string(text), "exec ") {
				script = string(text)
			}
		}
		if !strings.Contains(script, "rules_img_tool_linux_amd64/img\" deploy") {
			t.Errorf("the launcher should run the host's (linux/amd64) img:\n%s", script)
		}
		out, err = b.Must(append([]string{"aquery", "mnemonic(ImageLayer, //hello:app_layer)"}, arm...)...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Execution platform: //platforms:remote_linux_arm64") {
			t.Errorf("the layer action should run on the arm64 executor:\n%s", out)
		}
		if !strings.Contains(out, "rules_img_tool_linux_arm64/img") || strings.Contains(out, "rules_img_tool_linux_amd64/img") {
			t.Errorf("the layer action on the arm64 executor should run the arm64 img:\n%s", out)
		}
	})

	// runFromCasd runs a lazy launcher and checks that img read every layer
	// of the image (its local manifest) from casd. It returns the number of
	// layers.
	runFromCasd := func(t *testing.T, rawManifest []byte, target string, args ...string) int {
		t.Helper()
		var m manifest
		if err := json.Unmarshal(rawManifest, &m); err != nil || len(m.Layers) == 0 {
			t.Fatalf("manifest of %s's image: %v (%s)", target, err, rawManifest)
		}
		casd.Reset()
		out, err := bazelRun(t, b, target, runFlags, args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(tailLines(out, 8))
		for _, l := range m.Layers {
			if casd.BlobReads(l.Digest) == 0 {
				t.Errorf("%s: layer %s did not stream from casd's ByteStream", target, l.Digest)
			}
		}
		return len(m.Layers)
	}

	t.Run("lazy push streams from casd", func(t *testing.T) {
		image := local["//hello:image image.descriptor.json"]
		var want descriptor
		if err := json.Unmarshal(image, &want); err != nil {
			t.Fatalf("descriptor of //hello:image: %v (%s)", err, image)
		}
		runFromCasd(t, local["//hello:image image.manifest.json"], "//deploy:push_lazy",
			"--registry", reg.Addr(), "--repository", "e2e/remote")
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
		if n := runFromCasd(t, local["//runfiles:image image.manifest.json"], "//deploy:load_lazy", "--daemon", "containerd"); n != 2 {
			t.Fatalf("//runfiles:image has %d layers, want 2", n)
		}
		// The runner execs a binary from its runfiles: it only works if that
		// binary's mode was decided as executable.
		got, err := ctrd.Run("docker.io/e2e/runfiles:v1", "remote-load")
		if err != nil || !strings.Contains(got, "runner: helper ran; data: runfiles data") {
			t.Fatalf("run: %v %q", err, got)
		}
	})

	t.Run("bes pushes during the build", func(t *testing.T) { testBESPush(t, casd, ctrd, b, flags, local) })
	t.Run("cas_registry pushes only manifests", func(t *testing.T) { testCASRegistryPush(t, casd, ctrd, b, runFlags, local) })
}

// remoteSpawns counts the execution log's spawns of the image mnemonics (or
// of those given) by "MNEMONIC RUNNER", with remote cache hits counted as
// "MNEMONIC cache hit".
func remoteSpawns(t *testing.T, path string, mnemonics ...string) map[string]int {
	t.Helper()
	if len(mnemonics) == 0 {
		mnemonics = imageMnemonics
	}
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
		for _, m := range mnemonics {
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

// fakeArm64GoSDK returns a Go SDK repository that claims to run on
// linux/arm64: the setup's amd64 SDK with its BUILD file's host arch changed.
// It is only good for analysis, which is all the launcher test does.
func fakeArm64GoSDK(t *testing.T) string {
	t.Helper()
	src := harness.GoSDKPath()
	dir, err := harness.TempDir("rules_img_e2e_arm64_sdk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatalf("the Go SDK tools/setup.sh prepares: %v", err)
	}
	for _, e := range ents {
		if e.Name() == "BUILD.bazel" {
			continue
		}
		target, err := filepath.EvalSymlinks(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	build, err := os.ReadFile(filepath.Join(src, "BUILD.bazel"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(`goarch = "amd64"`, `goarch = "arm64"`, "@platforms//cpu:x86_64", "@platforms//cpu:aarch64").Replace(string(build))
	if s == string(build) {
		t.Fatal("the SDK's BUILD file no longer names amd64; update fakeArm64GoSDK")
	}
	if err := os.WriteFile(filepath.Join(dir, "BUILD.bazel"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
