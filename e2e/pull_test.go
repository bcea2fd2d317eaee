//go:build e2e

package e2e

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
)

// pullEnv is a CNCF Distribution registry behind a byte-counting proxy and
// another one with htpasswd auth, both seeded with the ~600 MiB two-platform
// base that e2e/workspace builds, and the pull workspace pointed at them.
type pullEnv struct {
	reg, authReg *harness.Registry
	proxy        *harness.Proxy
	digest       string
	ws           *harness.Bazel
	helperPath   string // dir holding docker-credential-e2etest
}

func startPullEnv(t *testing.T) *pullEnv {
	t.Helper()
	e := &pullEnv{}
	var err error
	e.reg, e.proxy = startProxiedRegistry(t, harness.RegistryOptions{})
	if e.authReg, err = harness.StartRegistry(harness.RegistryOptions{User: "e2e", Password: "s3cret-e2e"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.authReg.Stop)

	if e.digest, err = harness.SeedBase(ws, e.reg.Addr(), "e2e/base", "v1", ""); err != nil {
		t.Fatal(err)
	}
	if d, err := harness.SeedBase(ws, e.authReg.Addr(), "e2e/base", "v1", e.authReg.Creds()); err != nil || d != e.digest {
		t.Fatalf("seeding the auth registry: %v (digest %s, want %s)", err, d, e.digest)
	}

	// A fixed path per checkout keeps the workspace's Bazel output base warm
	// across runs without two checkouts sharing it; MODULE.bazel changes with
	// the ports, which refetches the pulls.
	dir := fmt.Sprintf("/var/tmp/rules_img_e2e_pull-%x", sha256.Sum256([]byte(harness.RepoRoot())))[:len("/var/tmp/rules_img_e2e_pull-")+12]
	if err := os.RemoveAll(filepath.Join(dir, "ws")); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(dir, "creds")
	os.MkdirAll(creds, 0o755)
	// tools/test.sh removes the dir and its output base once the checkout is gone.
	if err := os.WriteFile(filepath.Join(dir, "root"), []byte(harness.RepoRoot()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := harness.WriteDockerConfig(filepath.Join(creds, "config.json"), e.authReg.Addr(), "e2e", "s3cret-e2e"); err != nil {
		t.Fatal(err)
	}
	if err := harness.WriteDockerConfig(filepath.Join(creds, "wrong.json"), e.authReg.Addr(), "e2e", "wrong-password"); err != nil {
		t.Fatal(err)
	}
	if e.helperPath, err = harness.WriteCredentialHelper(creds, "e2etest", e.authReg.Addr(), "e2e", "s3cret-e2e"); err != nil {
		t.Fatal(err)
	}
	e.ws = &harness.Bazel{Workspace: filepath.Join(dir, "ws")}
	err = copyTemplate(filepath.Join(harness.RepoRoot(), "e2e", "pull_workspace"), e.ws.Workspace, map[string]string{
		"{{RULES_IMG}}":           harness.RepoRoot(),
		"{{DIGEST}}":              e.digest,
		"{{REGISTRY}}":            e.proxy.Addr(),
		"{{AUTH_REGISTRY}}":       e.authReg.Addr(),
		"{{DOCKER_CONFIG}}":       filepath.Join(creds, "config.json"),
		"{{WRONG_DOCKER_CONFIG}}": filepath.Join(creds, "wrong.json"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.ws.Shutdown)
	return e
}

// copyTemplate copies dir to dst, filling placeholders in *.tmpl files
// (written without the suffix).
func copyTemplate(src, dst string, vars map[string]string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, strings.TrimSuffix(rel, ".tmpl"))
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasPrefix(info.Name(), "bazel-") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		if strings.HasSuffix(p, ".tmpl") {
			for k, v := range vars {
				s = strings.ReplaceAll(s, k, v)
			}
		}
		return os.WriteFile(target, []byte(s), 0o644)
	})
}

// baseLayers returns the digests of the base's layer blobs.
func baseLayers(t *testing.T) map[string]bool {
	t.Helper()
	layout, _, err := harness.BaseLayout(ws)
	if err != nil {
		t.Fatal(err)
	}
	var index manifest
	readJSON(t, blobPath(layout, rootOf(t, layout).Digest), &index)
	layers := map[string]bool{}
	for _, m := range index.Manifests {
		var man manifest
		readJSON(t, blobPath(layout, m.Digest), &man)
		for _, l := range man.Layers {
			layers[l.Digest] = true
		}
	}
	return layers
}

func TestPullBaseImages(t *testing.T) {
	e := startPullEnv(t)
	layers := baseLayers(t)

	t.Run("shallow build downloads no layer bytes", func(t *testing.T) {
		e.proxy.Reset()
		start := time.Now()
		if _, err := e.ws.Must("build", "//app:image", "//app:index"); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		stats := e.proxy.Stats()
		layerBytes := stats.BytesOutOf(layers)
		blobs := stats.Of(harness.Blobs)
		t.Logf("shallow: build took %s; registry served %d manifest bytes, %d blob bytes (configs), %d layer bytes",
			elapsed.Round(time.Millisecond), stats.Of(harness.Manifests).BytesOut, blobs.BytesOut, layerBytes)
		if layerBytes != 0 {
			t.Errorf("a shallow build downloaded %d bytes of base layers", layerBytes)
		}
		if blobs.BytesOut >= 64<<10 {
			t.Errorf("a shallow build downloaded %d blob bytes beyond manifests; want < 64 KiB (configs only)", blobs.BytesOut)
		}
	})

	t.Run("images extension pulls shallowly, once per digest", func(t *testing.T) {
		e.proxy.Reset()
		targets := []string{"//app:image_ext", "//app:image_ext_repository", "//app:image_ext_repo"}
		if _, err := e.ws.Must(append([]string{"build", "//app:image"}, targets...)...); err != nil {
			t.Fatal(err)
		}
		stats := e.proxy.Stats()
		for d, n := range stats.BlobBytesOut {
			if layers[d] && n > 0 {
				t.Errorf("building on the extension's images downloaded %d bytes of base layer %s", n, d)
			}
		}
		layersOf := func(target string) string {
			var m manifest
			readJSON(t, filepath.Join(e.ws.Workspace, "bazel-bin", "app", strings.TrimPrefix(target, "//app:")+".manifest.json"), &m)
			var ds []string
			for _, l := range m.Layers {
				ds = append(ds, l.Digest)
			}
			return strings.Join(ds, " ")
		}
		want := layersOf("//app:image")
		for _, target := range targets {
			if got := layersOf(target); got != want {
				t.Errorf("%s layers %s, want the pull() base's %s", target, got, want)
			}
		}
		// image("base_ext") and image("e2e/base") name one digest: one repository.
		out, err := e.ws.Must("query", "deps(//app:image_ext) union deps(//app:image_ext_repository)", "--output=package")
		if err != nil {
			t.Fatal(err)
		}
		var repos []string
		for _, p := range strings.Fields(out) {
			if strings.Contains(p, "images~img_") || strings.Contains(p, "images+img_") {
				repos = append(repos, p)
			}
		}
		if len(repos) != 1 {
			t.Errorf("want one repository for the two pulls of one digest, got %v", repos)
		}
	})

	t.Run("image_optimize refuses a shallow base", func(t *testing.T) {
		r := e.ws.Run("build", "//app:optimize_shallow")
		want := `//app:optimize_shallow: image: layer 1 of //app:image's linux/amd64 image is a base layer pulled shallowly`
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("err %v; want a message with %q:\n%s", r.Err, want, tailLines(r.Stderr, 15))
		}
	})

	t.Run("image on the base runs in containerd", func(t *testing.T) {
		layout := layoutOf(t, e.ws, "//app:image")
		var man manifest
		readJSON(t, blobPath(layout, rootOf(t, layout).Digest), &man)
		if len(man.Layers) != 3 || !layers[man.Layers[0].Digest] || !layers[man.Layers[1].Digest] {
			t.Fatalf("layers = %+v; want the two base layers first, then the app's", man.Layers)
		}
		out := runLayout(t, layout, "docker.io/library/on-base:e2e")
		for _, want := range []string{`base-release="rules_img e2e base"`, "big.bin=603979776 bytes", "BASE_ENV=from-base", "APP_ENV=from-app", "wd=/opt/base", "arch=amd64"} {
			if !strings.Contains(out, want) {
				t.Errorf("container output %q lacks %q", out, want)
			}
		}
	})

	t.Run("index picks the base per platform", func(t *testing.T) {
		// The per-platform configs are intermediate outputs: with a disk cache,
		// Bazel only materializes them when asked to.
		if _, err := e.ws.Must("build", "//app:index", "--remote_download_outputs=all"); err != nil {
			t.Fatal(err)
		}
		out, err := e.ws.Must("cquery", "deps(//app:index)", "--output=files")
		if err != nil {
			t.Fatal(err)
		}
		execRoot, err := e.ws.Info("execution_root")
		if err != nil {
			t.Fatal(err)
		}
		arches := map[string]string{} // architecture -> BASE platform marker layer digest
		for _, f := range strings.Fields(out) {
			if !strings.HasSuffix(f, "/app/image.config.json") {
				continue
			}
			var cfg struct {
				Architecture string `json:"architecture"`
				RootFS       struct {
					DiffIDs []string `json:"diff_ids"`
				} `json:"rootfs"`
				Config struct{ Env []string } `json:"config"`
			}
			readJSON(t, filepath.Join(execRoot, f), &cfg)
			if len(cfg.RootFS.DiffIDs) != 3 || !strings.Contains(strings.Join(cfg.Config.Env, " "), "BASE_ENV=from-base") {
				t.Errorf("%s config: %+v", cfg.Architecture, cfg)
			}
			arches[cfg.Architecture] = cfg.RootFS.DiffIDs[1]
		}
		if len(arches) != 2 || arches["amd64"] == "" || arches["arm64"] == "" || arches["amd64"] == arches["arm64"] {
			t.Errorf("per-platform base layers = %v; want amd64 and arm64 with different platform layers", arches)
		}
	})

	t.Run("remote execution on the pulled base gives the local digests", func(t *testing.T) {
		casd, err := harness.StartCasd(harness.CasdOptions{Execute: true})
		if err != nil {
			t.Fatal(err)
		}
		defer casd.Stop()
		ob, err := harness.TempDir("rules_img_e2e_pull_remote-")
		if err != nil {
			t.Fatal(err)
		}
		rb := &harness.Bazel{Workspace: e.ws.Workspace, OutputBase: ob}
		defer func() { rb.Shutdown(); os.RemoveAll(ob) }()
		execLog := filepath.Join(ob, "exec.json")
		flags := []string{"--disk_cache=", "--remote_executor=grpc://" + casd.Addr(),
			"--remote_download_minimal", `--remote_download_regex=.*\.json$`}
		for _, target := range []string{"//app:image_remote", "//app:index_remote"} {
			local := descriptorOf(t, e.ws, target)
			// Its own build: the cquery in descriptorOf would truncate the log.
			if _, err := rb.Must(append([]string{"build", target, "--execution_log_json_file=" + execLog}, flags...)...); err != nil {
				t.Fatal(err)
			}
			ran := remoteSpawns(t, execLog)
			remote := descriptorOf(t, rb, target, flags...)
			if remote.Digest != local.Digest {
				t.Errorf("%s: remote build gave %s, local %s", target, remote.Digest, local.Digest)
			}
			t.Logf("%s: %s; spawns %v", target, remote.Digest, ran)
			if target == "//app:image_remote" && (ran["ImageManifest remote"] == 0 || ran["ImageLayer remote"] == 0) {
				t.Errorf("the image's layer and manifest actions did not execute remotely: %v", ran)
			}
			for k, n := range ran {
				if !strings.HasSuffix(k, " remote") && !strings.HasSuffix(k, " cache hit") {
					t.Errorf("%d %s actions did not execute remotely", n, k)
				}
			}
		}
	})

	t.Run("eager pull downloads the layers", func(t *testing.T) {
		e.proxy.Reset()
		start := time.Now()
		if _, err := e.ws.Must("build", "//app:image_eager"); err != nil {
			t.Fatal(err)
		}
		stats := e.proxy.Stats()
		t.Logf("eager: build took %s; registry served %d blob bytes",
			time.Since(start).Round(time.Millisecond), stats.Of(harness.Blobs).BytesOut)
		if stats.Of(harness.Blobs).BytesOut < 512<<20 {
			t.Errorf("eager pull moved only %d blob bytes", stats.Of(harness.Blobs).BytesOut)
		}
	})

	t.Run("lazy pull fetches layers in build actions when needed", func(t *testing.T) {
		e.proxy.Reset()
		if _, err := e.ws.Must("build", "//app:image_lazy"); err != nil {
			t.Fatal(err)
		}
		if n := e.proxy.Stats().Of(harness.Blobs).BytesOut; n >= 64<<10 {
			t.Errorf("building the image on a lazy base moved %d blob bytes; want configs only", n)
		}
		layout := layoutOf(t, e.ws, "//app:image_lazy")
		if n := e.proxy.Stats().Of(harness.Blobs).BytesOut; n < 512<<20 {
			t.Errorf("the layout of an image on a lazy base moved only %d blob bytes", n)
		}
		aq, err := e.ws.Must("aquery", "mnemonic(ImageFetchBlob, deps(//app:image_lazy))", "--output_groups=+oci_layout")
		if err != nil || !strings.Contains(aq, "ImageFetchBlob") {
			t.Errorf("no ImageFetchBlob actions for the lazy base: %v", err)
		}
		skopeo(t, "inspect", "oci:"+layout)
	})

	t.Run("push mounts base layers in the same registry", func(t *testing.T) {
		e.proxy.Reset()
		out, err := bazelRun(t, e.ws, "//app:push", nil, "--registry", e.proxy.Addr())
		if err != nil {
			t.Fatal(err)
		}
		stats := e.proxy.Stats()
		for d := range layers {
			if stats.BlobBytesIn[d] != 0 || stats.BlobBytesOut[d] != 0 {
				t.Errorf("base layer %s moved %d bytes up, %d down; want a mount", d, stats.BlobBytesIn[d], stats.BlobBytesOut[d])
			}
		}
		if !strings.Contains(out, "mounted") {
			t.Errorf("summary should count mounts:\n%s", out)
		}
		if out, err := harness.Crane("validate", "--fast", "--remote", e.reg.Addr()+"/e2e/app:v1"); err != nil {
			t.Fatalf("crane validate: %v\n%s", err, out)
		}
	})

	t.Run("mirrors are tried in order", func(t *testing.T) {
		// The first mirror refuses the connection; the second is the
		// registry. The image is the one built on the plain pull.
		r := e.ws.Run("build", "//app:image", "//app:image_mirror")
		if r.Err != nil {
			t.Fatalf("%v\n%s", r.Err, tailLines(r.Stderr, 40))
		}
		if !strings.Contains(r.Stderr, "pull base_mirror: used "+e.proxy.Addr()+" after 1 mirror(s) failed") {
			t.Errorf("the build should say which mirror served:\n%s", tailLines(r.Stderr, 20))
		}
		// The history names each target, so compare what came from the
		// base: every layer, in order.
		layersOf := func(target string) string {
			files, err := e.ws.OutputFiles(target, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if strings.HasSuffix(f, ".manifest.json") {
					var m manifest
					readJSON(t, f, &m)
					var ds []string
					for _, l := range m.Layers {
						ds = append(ds, l.Digest)
					}
					return strings.Join(ds, ",")
				}
			}
			t.Fatalf("%s: no manifest in %v", target, files)
			return ""
		}
		if a, b := layersOf("//app:image"), layersOf("//app:image_mirror"); a != b || a == "" {
			t.Errorf("layers on the mirror's pull: %s; on the registry's: %s", b, a)
		}
	})

	t.Run("a pulled image pushes as it is", func(t *testing.T) {
		// Upstream rules_img takes a pull as the image of image_push: the
		// root index keeps its digest and every layer is mounted, not copied.
		e.proxy.Reset()
		if _, err := bazelRun(t, e.ws, "//app:push_base", nil, "--registry", e.proxy.Addr()); err != nil {
			t.Fatal(err)
		}
		if _, got, err := harness.RawManifest(e.reg.Addr(), "e2e/mirror", "v1"); err != nil || got != e.digest {
			t.Fatalf("e2e/mirror:v1 is %s (%v), want the pulled digest %s", got, err, e.digest)
		}
		for d, n := range e.proxy.Stats().BlobBytesOut {
			if layers[d] && n != 0 {
				t.Errorf("base layer %s: %d bytes downloaded, want a mount", d, n)
			}
		}
		if out, err := harness.Crane("validate", "--fast", "--remote", e.reg.Addr()+"/e2e/mirror:v1"); err != nil {
			t.Fatalf("crane validate: %v\n%s", err, out)
		}
	})

	t.Run("push to another registry streams base layers across", func(t *testing.T) {
		other, err := harness.StartRegistry(harness.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Stop()
		e.proxy.Reset()
		start := time.Now()
		if _, err := bazelRun(t, e.ws, "//app:push", nil, "--registry", other.Addr()); err != nil {
			t.Fatal(err)
		}
		down := e.proxy.Stats().BytesOutOf(layers)
		t.Logf("cross-registry push: %s, %d base layer bytes streamed from the source", time.Since(start).Round(time.Millisecond), down)
		if down < 512<<20 {
			t.Errorf("streamed %d base bytes from the source registry, want the whole big layer", down)
		}
		if out, err := harness.Crane("validate", "--remote", other.Addr()+"/e2e/app:v1"); err != nil {
			t.Fatalf("crane validate: %v\n%s", err, out)
		}
	})

	t.Run("incremental containerd load", func(t *testing.T) {
		ctrd, err := harness.StartContainerd()
		if err != nil {
			t.Fatal(err)
		}
		defer ctrd.Stop()
		sent := versionedLoads(t, e.ws, ctrd, "//app:load_versioned", filepath.Join("app", "version.txt"), func(i int, r loadRound) {
			t.Logf("load %d: %s, %d bytes sent to containerd\n%s", i+1, r.took.Round(time.Millisecond), r.sent, tailLines(r.out, 3))
			if i == 1 {
				// The load ends by dropping its lease, which starts a GC.
				// The snapshots of the unchanged layers must survive it,
				// so the run below unpacks only the changed layer.
				time.Sleep(2 * time.Second)
				ls, err := ctrd.Ctr("snapshots", "--snapshotter", "native", "ls")
				if err != nil {
					t.Fatal(err)
				}
				if n := strings.Count(ls, "Committed"); n < 3 {
					t.Errorf("after the second load %d committed snapshots are left, want the 3 of the unchanged layers:\n%s", n, ls)
				}
			}
			got, err := ctrd.Run("docker.io/e2e/app:v1", fmt.Sprintf("incremental-%d", i))
			if err != nil || !strings.Contains(got, "big.bin=603979776 bytes") {
				t.Fatalf("run after load %d: %v %q", i+1, err, got)
			}
		})
		if sent[0] < 512<<20 {
			t.Errorf("first load sent %d bytes; the base alone is larger", sent[0])
		}
		if sent[1] > 4<<20 {
			t.Errorf("second load sent %d bytes; only the changed layer, config and manifest should go", sent[1])
		}
	})

	t.Run("rules_oci door", func(t *testing.T) { testOCIDoor(t, e, layers) })
	t.Run("rules_docker door", func(t *testing.T) { testDockerDoor(t, e, layers) })

	t.Run("credential helper", func(t *testing.T) {
		if _, err := e.ws.Must("build", "//app:image_helper", "--repo_env=PATH="+e.helperPath+":"+os.Getenv("PATH")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("docker config path", func(t *testing.T) {
		if _, err := e.ws.Must("build", "//app:image_config"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("wrong credentials", func(t *testing.T) {
		r := e.ws.Run("build", "//app:image_wrong_creds")
		if r.Err == nil {
			t.Fatal("build with wrong credentials succeeded")
		}
		for _, want := range []string{"base_wrong_creds", "authentication failed", e.authReg.Addr()} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("error lacks %q:\n%s", want, r.Stderr)
			}
		}
		if strings.Contains(r.Stderr, "wrong-password") {
			t.Error("the error output shows the password")
		}
	})

	t.Run("wrong digest", func(t *testing.T) {
		r := e.ws.Run("build", "//app:image_wrong_digest")
		if r.Err == nil {
			t.Fatal("build with a wrong digest pin succeeded")
		}
		for _, want := range []string{"base_wrong_digest", "sha256:0000000000000000000000000000000000000000000000000000000000000000", "not found", "check repository and digest"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("error lacks %q:\n%s", want, r.Stderr)
			}
		}
	})

	t.Run("tag without digest is refused", func(t *testing.T) {
		r := e.ws.Run("build", "//app:image_tag_only")
		if r.Err == nil {
			t.Fatal("a pull with a tag and no digest succeeded")
		}
		for _, want := range []string{"base_tag_only", "digest is required", "unsafe_allow_tag_without_digest"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("error lacks %q:\n%s", want, r.Stderr)
			}
		}
	})
}

// loadRound is one load of versionedLoads.
type loadRound struct {
	sent int64 // bytes sent to containerd
	took time.Duration
	out  string // what bazel run printed
}

// versionedLoads writes "first", then "second", into versionFile (relative
// to ws) and after each runs the load target into ctrd through a
// byte-counting proxy, then after. It returns the bytes each load sent.
func versionedLoads(t *testing.T, ws *harness.Bazel, ctrd *harness.Containerd, target, versionFile string, after func(i int, r loadRound)) [2]int64 {
	t.Helper()
	sock, err := harness.StartUnixProxy(ctrd.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Stop()
	b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
		"CONTAINERD_ADDRESS=" + sock.Path(), "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	var sent [2]int64
	for i, v := range []string{"first", "second"} {
		if err := os.WriteFile(filepath.Join(ws.Workspace, versionFile), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		sock.Reset()
		start := time.Now()
		out, err := bazelRun(t, b, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		sent[i] = sock.BytesUp()
		after(i, loadRound{sent: sent[i], took: time.Since(start), out: out})
	}
	return sent
}
