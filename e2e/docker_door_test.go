//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// testDockerDoor builds the pull workspace's //docker package, a
// rules_docker BUILD file with only its load lines changed, on
// container_pull's shallow base.
func testDockerDoor(t *testing.T, e *pullEnv, layers map[string]bool) {
	e.proxy.Reset()
	if _, err := e.ws.Must("build", "//docker:image", "//docker:shell_cmd", "//docker:push", "//docker:push_oci", "//docker:bundle", "//docker:image.digest"); err != nil {
		t.Fatal(err)
	}
	if layerBytes := e.proxy.Stats().BytesOutOf(layers); layerBytes != 0 {
		t.Errorf("building on container_pull's base downloaded %d bytes of base layers", layerBytes)
	}
	files, err := e.ws.OutputFiles("//docker:shell_cmd.manifest", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".config.json") {
			var c config
			readJSON(t, f, &c)
			if strings.Join(c.Config.Cmd, " ") != "/bin/sh -c echo from the shell form" || len(c.Config.Entrypoint) != 0 || c.Config.Labels["team"] != "e2e" {
				t.Errorf("shell_cmd: cmd %q entrypoint %q labels %v", c.Config.Cmd, c.Config.Entrypoint, c.Config.Labels)
			}
			if _, ok := c.Config.Volumes["/data"]; !ok || c.Config.User != "1000:1000" || c.Config.WorkingDir != "/app" {
				t.Errorf("shell_cmd: volumes %v user %q workdir %q", c.Config.Volumes, c.Config.User, c.Config.WorkingDir)
			}
		}
	}

	// container_push: Docker's media types by default, OCI on request.
	for target, tag := range map[string]string{"//docker:push": "v1", "//docker:push_oci": "oci"} {
		if _, err := bazelRun(t, e.ws, target, nil, "--registry", e.proxy.Addr()); err != nil {
			t.Fatal(err)
		}
		raw, _, err := harness.RawManifest(e.proxy.Addr(), "docker/app", tag)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"v1": "application/vnd.docker.distribution.manifest.v2+json", "oci": "application/vnd.oci.image.manifest.v1+json"}[tag]
		if !strings.Contains(string(raw), want) {
			t.Errorf("docker/app:%s is not %s:\n%s", tag, want, raw)
		}
	}
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	out := pullAndRun(t, ctrd, e.proxy.Addr()+"/docker/app:v1", "docker-door")
	for _, want := range []string{"big.bin=603979776 bytes", "APP_ENV=from-rules-docker", "wd=/app"} {
		if !strings.Contains(out, want) {
			t.Errorf("the pushed image printed %q, want %q in it", out, want)
		}
	}

	// bazel run :image loads it as bazel/PACKAGE:NAME; :bundle loads both.
	b := &harness.Bazel{Workspace: e.ws.Workspace, Env: []string{
		"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	for _, target := range []string{"//docker:image", "//docker:bundle"} {
		if _, err := bazelRun(t, b, target, nil, "--daemon", "containerd"); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := ctrd.Ctr("images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"docker.io/bazel/docker:image", "docker.io/e2e/bundle-a:v1", "docker.io/e2e/bundle-b:v1"} {
		if !strings.Contains(ls, name) {
			t.Errorf("containerd lacks %s after the loads:\n%s", name, ls)
		}
	}
	if out, err := ctrd.Run("docker.io/bazel/docker:image", "docker-door-load"); err != nil || !strings.Contains(out, "APP_ENV=from-rules-docker") {
		t.Errorf("the loaded image: %v %q", err, out)
	}

	// And into Docker, as rules_docker users ran it: `bazel run :image`, then
	// `docker run bazel/PACKAGE:NAME`.
	d, err := harness.StartDocker("20.10")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	db := &harness.Bazel{Workspace: e.ws.Workspace, Env: []string{"DOCKER_HOST=" + d.Host()}}
	if _, err := bazelRun(t, db, "//docker:image", nil, "--daemon", "docker"); err != nil {
		t.Fatal(err)
	}
	if out, err := d.Run("bazel/docker:image"); err != nil || !strings.Contains(out, "APP_ENV=from-rules-docker") {
		t.Errorf("docker run bazel/docker:image: %v %q", err, out)
	}

	// NAME.tar and the bundle's tar are docker-save tarballs.
	if tags := repoTags(t, readOutputPath(t, e.ws, "//docker:image.tar")); strings.Join(tags, " ") != "docker.io/bazel/docker:image" {
		t.Errorf("image.tar tags %v", tags)
	}
	bundle := readOutputPath(t, e.ws, "//docker:bundle.tar")
	if out, err := harness.Skopeo("inspect", "docker-archive:"+bundle+":docker.io/e2e/bundle-b:v1"); err != nil || !strings.Contains(string(out), "docker.io/e2e/bundle-b") {
		t.Errorf("skopeo inspect of the bundle's second image: %v\n%s", err, out)
	}

	// container_flatten: one tar of what the container sees, base included.
	if _, err := e.ws.Must("build", "//docker:flat"); err != nil {
		t.Fatal(err)
	}
	flat, err := e.ws.OutputFiles("//docker:flat", "")
	if err != nil || len(flat) != 2 {
		t.Fatalf("//docker:flat: %v %v", flat, err)
	}
	entries := map[string]bool{}
	for _, n := range tarNames(t, flat[0]) {
		entries[strings.TrimSuffix(n, "/")] = true
	}
	for _, want := range []string{"app/app", "etc/app/greeting.txt", "etc/app/version.txt", "usr/bin/app", "opt/base/big.bin", "etc/base-release"} {
		if !entries[want] {
			t.Errorf("flat.tar lacks %s (%d entries)", want, len(entries))
		}
	}

	// container_load: the image.tar above as a base.
	saved, err := os.ReadFile(readOutputPath(t, e.ws, "//docker:image.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.ws.Workspace, "docker", "saved.tar"), saved, 0o644); err != nil {
		t.Fatal(err)
	}
	layout := layoutOf(t, e.ws, "//docker:from_saved.manifest")
	if err := ctrd.ImportLayout(layout, "docker.io/e2e/from-saved:v1"); err != nil {
		t.Fatal(err)
	}
	if out, err := ctrd.Run("docker.io/e2e/from-saved:v1", "docker-door-saved"); err != nil || !strings.Contains(out, "APP_ENV=from-a-loaded-tarball") || !strings.Contains(out, "big.bin=603979776 bytes") {
		t.Errorf("the image on container_load's base: %v %q", err, out)
	}
}

// readOutputPath builds target and returns its single output file.
func readOutputPath(t *testing.T, b *harness.Bazel, target string) string {
	t.Helper()
	if _, err := b.Must("build", target); err != nil {
		t.Fatal(err)
	}
	files, err := b.OutputFiles(target, "")
	if err != nil || len(files) != 1 {
		t.Fatalf("%s: %v %v", target, files, err)
	}
	return files[0]
}
