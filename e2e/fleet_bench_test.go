//go:build e2e && bench

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestFleetBenchmark builds and pushes a fleet of FLEET_N services (default
// 100) on buildbox-casd with remote execution and --remote_download_minimal.
// Every service is one image: a go_binary layer all of them share and a small
// config layer of its own. It measures, each against a fresh registry:
//   - bes: `bazel build //svc/...` with the Build Event Service backend, cold;
//     then a no-op rebuild, one service changed, the shared binary changed,
//     every service changed;
//   - with the build cached, each into an empty registry: bes, and
//     multi_deploy with strategy lazy and eager (`bazel run //:deploy_all`);
//   - multi_deploy with strategy cas_registry into cmd/registry on casd,
//     then again with nothing changed;
//
// recording wall time, ByteStream bytes Bazel read from casd, and blob bytes
// into the registry. Run it with bench/fleet/run.sh; it writes
// docs/benchmarks/fleet-N.md.
func TestFleetBenchmark(t *testing.T) {
	n := 100
	if s := os.Getenv("FLEET_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("FLEET_N=%q", s)
		}
	}
	dir := generateFleet(t, n)
	casd, err := harness.StartCasd(harness.CasdOptions{Execute: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	bes, err := harness.StartBES("grpc://"+casd.Direct(), "--jobs", "16")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bes.Stop)
	ob, err := harness.TempDir("rules_img_e2e_fleet-")
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: dir, OutputBase: ob}
	t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })
	endpoint := "grpc://" + casd.Addr()
	common := []string{
		"--disk_cache=", "--remote_executor=" + endpoint, "--remote_download_minimal",
		`--remote_download_regex=.*\.json$`, "--jobs=32",
		"--@rules_img//img/settings:remote_cache=" + endpoint,
	}

	type row struct {
		what      string
		seconds   float64
		bazelRead int64 // ByteStream bytes Bazel read from casd
		regIn     int64 // blob bytes into the registry
		blobsIn   int
	}
	var rows []row
	measure := func(what string, registry *harness.Proxy, run func() harness.Result) row {
		t.Helper()
		casd.Reset()
		registry.Reset()
		start := time.Now()
		r := run()
		took := time.Since(start)
		if r.Err != nil {
			t.Fatalf("%s: %v\n%s\nbackend:\n%s", what, r.Err, tailLines(r.Stderr, 30), tailLines(bes.Log(), 20))
		}
		st := registry.Stats()
		res := row{what: what, seconds: took.Seconds(), bazelRead: casd.ByteStreamBytesRead(), regIn: st.Blobs.BytesIn, blobsIn: len(st.BlobBytesIn)}
		t.Logf("%s: %.1f s, Bazel read %d bytes from casd, %d blobs / %d bytes into the registry", what, res.seconds, res.bazelRead, res.blobsIn, res.regIn)
		rows = append(rows, res)
		return res
	}
	// One registry address for every run, so that switching registries
	// changes no build setting (the push requests name the registry); a
	// fresh registry behind it starts each strategy empty.
	_, proxy := startProxiedRegistry(t, harness.RegistryOptions{})
	fresh := func() {
		reg, err := harness.StartRegistry(harness.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg.Stop)
		proxy.SetBackend(reg.Addr())
	}
	registry := "--@rules_img//img/settings:destination_registry=" + proxy.Addr()
	besBuild := func() harness.Result {
		return b.Run(append([]string{"build", "//svc/...", "--bes_backend=grpc://" + bes.Addr(),
			"--@rules_img//img/settings:push_strategy=bes", registry}, common...)...)
	}
	deploy := func(strategy string) func() harness.Result {
		return func() harness.Result {
			return b.Run(append(append([]string{"run", "//:deploy_all"}, common...),
				"--@rules_img//img/settings:push_strategy="+strategy, registry, "--", "--jobs", "4")...)
		}
	}
	measure(fmt.Sprintf("bes: cold build and push of %d images", n), proxy, besBuild)
	if !strings.Contains(bes.Log(), fmt.Sprintf("%d image(s) pushed", n)) {
		t.Fatalf("the backend did not push %d images:\n%s", n, tailLines(bes.Log(), 20))
	}
	noop := measure("bes: no-op rebuild", proxy, besBuild)
	if noop.blobsIn != 0 {
		t.Errorf("a no-op rebuild pushed %d blobs", noop.blobsIn)
	}
	if err := os.WriteFile(filepath.Join(dir, "svc", "s0001", "config.txt"), []byte("service 1, changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	measure("bes: one service's config changed", proxy, besBuild)
	main := filepath.Join(dir, "shared", "main.go")
	src, _ := os.ReadFile(main)
	if err := os.WriteFile(main, []byte(strings.Replace(string(src), "fleet v1", "fleet v2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	measure("bes: the shared binary changed", proxy, besBuild)
	// The fleet's own work with the toolchain cached: a new config layer,
	// manifest and push request for every service.
	for i := 1; i <= n; i++ {
		if err := os.WriteFile(filepath.Join(dir, "svc", fmt.Sprintf("s%04d", i), "config.txt"), []byte(fmt.Sprintf("service %d, release 2\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	measure(fmt.Sprintf("bes: all %d services' configs changed", n), proxy, besBuild)
	fresh()
	measure("bes: build (cached), push to an empty registry", proxy, besBuild)
	fresh()
	measure("multi_deploy lazy: build (cached), bazel run", proxy, deploy("lazy"))
	fresh()
	measure("multi_deploy eager: build (cached), bazel run", proxy, deploy("eager"))
	// deduplicated_push: the binary layer all services share, uploaded into
	// each repository (disabled) or once and mounted into the rest.
	for _, mode := range []string{"disabled", "enabled"} {
		fresh()
		measure("multi_deploy eager, deduplicated_push="+mode+": build (cached), bazel run", proxy, func() harness.Result {
			return b.Run(append(append([]string{"run", "//:deploy_all"}, common...),
				"--@rules_img//img/settings:push_strategy=eager", "--@rules_img//img/settings:deduplicated_push="+mode, registry, "--", "--jobs", "4")...)
		})
	}
	// The registry on the CAS, empty, behind the same address; the pushes
	// announce their blobs to its blob cache endpoint.
	creg, err := harness.StartCASRegistry("grpc://"+casd.Direct(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(creg.Stop)
	proxy.SetBackend(creg.Addr())
	b.Env = append(b.Env, "IMG_BLOB_CACHE_ENDPOINT="+creg.BlobCache())
	measure("multi_deploy cas_registry: build (cached), bazel run", proxy, deploy("cas_registry"))
	measure("multi_deploy cas_registry: again, nothing changed", proxy, deploy("cas_registry"))

	var md strings.Builder
	fmt.Fprintf(&md, "# Fleet: %d services, build and push\n\n", n)
	fmt.Fprintf(&md, "Generated by `bench/fleet/run.sh %d` (`TestFleetBenchmark`) on %s, %d cores. ", n, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU())
	md.WriteString("buildbox-casd executes every action (2 jobs) and serves the CAS; Bazel builds with " +
		"`--remote_download_minimal`. Each service is an image of two layers: a `go_binary` all share, and a " +
		"config file of its own. The first five rows push into one CNCF Distribution; the next five each " +
		"into an empty one, after the build is cached (`deduplicated_push` defaults to best_effort, as in the rows " +
		"without it); the last two into the registry on the CAS (`cmd/registry`, " +
		"with its blob cache endpoint), empty at first. \"Bazel read\" is ByteStream bytes Bazel fetched from casd; \"into the " +
		"registry\" is blob bytes uploaded (manifests not counted). `bazel run` needs the launcher's `img` " +
		"(about 15 MiB) on this machine: the first `bazel run` row pays for it, and the rows after it find it there.\n\n")
	md.WriteString("| run | wall time | Bazel read from casd | blobs into the registry | bytes into the registry |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %.1f s | %s | %d | %s |\n", r.what, r.seconds, mib(r.bazelRead), r.blobsIn, mib(r.regIn))
	}
	out := filepath.Join(harness.RepoRoot(), "docs", "benchmarks", fmt.Sprintf("fleet-%d.md", n))
	if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s:\n%s", out, md.String())
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

// generateFleet writes a workspace of n services sharing one binary layer.
func generateFleet(t *testing.T, n int) string {
	t.Helper()
	dir, err := harness.TempDir("rules_img_e2e_fleetws-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files := map[string]string{
		"MODULE.bazel": fmt.Sprintf(`module(name = "fleet")

bazel_dep(name = "rules_img", version = "0.0.0")
local_path_override(
    module_name = "rules_img",
    path = %q,
)

bazel_dep(name = "rules_go", version = "0.55.1")
`, harness.RepoRoot()),
		".bazelrc": "common --enable_bzlmod\ncommon --lockfile_mode=off\nbuild --incompatible_strict_action_env\n",
		"shared/main.go": `package main

import (
	"fmt"
	"os"
)

func main() {
	b, _ := os.ReadFile("/etc/service/config.txt")
	fmt.Printf("fleet v1: %s", b)
}
`,
		"shared/BUILD.bazel": `load("@rules_go//go:def.bzl", "go_binary")
load("@rules_img//img:layer.bzl", "image_layer")

go_binary(
    name = "app",
    srcs = ["main.go"],
    pure = "on",
    static = "on",
)

image_layer(
    name = "layer",
    srcs = {"/app/service": ":app"},
    include_runfiles = False,
    visibility = ["//visibility:public"],
)
`,
	}
	var ops []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("s%04d", i)
		files["svc/"+name+"/config.txt"] = fmt.Sprintf("service %d\n", i)
		files["svc/"+name+"/BUILD.bazel"] = fmt.Sprintf(`load("@rules_img//img:image.bzl", "image_manifest")
load("@rules_img//img:layer.bzl", "image_layer")
load("@rules_img//img:push.bzl", "image_push")

image_layer(
    name = "config",
    srcs = {"/etc/service/config.txt": "config.txt"},
)

image_manifest(
    name = "image",
    entrypoint = ["/app/service"],
    layers = [
        "//shared:layer",
        ":config",
    ],
)

image_push(
    name = "push",
    image = ":image",
    repository = "fleet/%s",
    tag = "v1",
    visibility = ["//visibility:public"],
)
`, name)
		ops = append(ops, fmt.Sprintf("        \"//svc/%s:push\",", name))
	}
	files["BUILD.bazel"] = "load(\"@rules_img//img:multi_deploy.bzl\", \"multi_deploy\")\n\nmulti_deploy(\n    name = \"deploy_all\",\n    operations = [\n" +
		strings.Join(ops, "\n") + "\n    ],\n)\n"
	for p, content := range files {
		path := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
