//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

const helloRef = "docker.io/e2e/hello:v1"

func TestLoadContainerd(t *testing.T) {
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	sock, err := harness.StartUnixProxy(ctrd.Socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sock.Stop)
	b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
		"CONTAINERD_ADDRESS=" + sock.Path(), "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	image := descriptorOf(t, ws, "//hello:image")

	t.Run("load and run", func(t *testing.T) {
		out, err := bazelRun(t, b, "//deploy:load", nil, "--daemon", "containerd")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, helloRef) || !strings.Contains(out, image.Digest) {
			t.Errorf("output should name %s and %s:\n%s", helloRef, image.Digest, out)
		}
		got, err := ctrd.Run(helloRef, "load-run")
		if err != nil || !strings.Contains(got, "hello, rules_img from linux/amd64 args=one") {
			t.Fatalf("run: %v %q", err, got)
		}
	})

	t.Run("second load writes nothing", func(t *testing.T) {
		sock.Reset()
		out, err := bazelRun(t, b, "//deploy:load", nil, "--daemon", "containerd")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "0 blobs written") {
			t.Errorf("second load should write no blob:\n%s", out)
		}
		if up := sock.BytesUp(); up > 64<<10 {
			t.Errorf("second load sent %d bytes to containerd, want only metadata calls", up)
		}
	})

	t.Run("platform of an index", func(t *testing.T) {
		var arm string
		layout := layoutOf(t, ws, "//hello:multiarch")
		var index manifest
		readJSON(t, blobPath(layout, rootOf(t, layout).Digest), &index)
		for _, m := range index.Manifests {
			if m.Platform.Architecture == "arm64" {
				arm = m.Digest
			}
		}
		out, err := bazelRun(t, b, "//deploy:load_index", nil, "--daemon", "containerd", "--platform", "linux/arm64")
		if err != nil {
			t.Fatal(err)
		}
		ls, err := ctrd.Ctr("images", "ls")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(ls, "\n") {
			if strings.HasPrefix(line, "docker.io/e2e/multi:v1 ") && !strings.Contains(line, arm) {
				t.Errorf("loaded %q, want the arm64 manifest %s\n%s", line, arm, out)
			}
		}
		if !strings.Contains(ls, "docker.io/e2e/multi:v1 ") {
			t.Errorf("image not listed:\n%s", ls)
		}
	})

	t.Run("several platforms of an index", func(t *testing.T) {
		// As upstream rules_img: --platform takes a list (or all); the name
		// points at the built index, which containerd finds complete.
		layout := layoutOf(t, ws, "//hello:multiarch")
		root := rootOf(t, layout).Digest
		if _, err := bazelRun(t, b, "//deploy:load_index", nil, "--daemon", "containerd", "--platform", "linux/amd64,linux/arm64"); err != nil {
			t.Fatal(err)
		}
		ls, err := ctrd.Ctr("images", "ls")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ls, "docker.io/e2e/multi:v1 ") || !strings.Contains(ls, root) {
			t.Errorf("want docker.io/e2e/multi:v1 at the index %s:\n%s", root, ls)
		}
		if out, err := ctrd.Ctr("images", "check", "name==docker.io/e2e/multi:v1"); err != nil || !strings.Contains(out, "complete") {
			t.Errorf("ctr images check: %v\n%s", err, out)
		}
		got, err := ctrd.Run("docker.io/e2e/multi:v1", "load-multi-run")
		if err != nil || !strings.Contains(got, "linux/amd64 args=one") {
			t.Errorf("run: %v %q", err, got)
		}
	})

	t.Run("daemon down", func(t *testing.T) {
		down := &harness.Bazel{Workspace: ws.Workspace, Env: []string{"CONTAINERD_ADDRESS=/nonexistent/containerd.sock"}}
		out, err := bazelRun(t, down, "//deploy:load", nil, "--daemon", "containerd")
		if err == nil || !strings.Contains(out, "/nonexistent/containerd.sock") {
			t.Errorf("load into a missing socket: want an error naming it, got %v:\n%s", err, tailLines(out, 10))
		}
	})
}

func TestLoadDocker(t *testing.T) {
	for _, version := range []string{"20.10", "28"} {
		t.Run(version, func(t *testing.T) {
			d, err := harness.StartDocker(version)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Stop)
			env := []string{"DOCKER_HOST=" + d.Host()}
			if a := d.ContainerdAddress(); a != "" {
				env = append(env, "CONTAINERD_ADDRESS="+a)
			}
			b := &harness.Bazel{Workspace: ws.Workspace, Env: env}
			out, err := bazelRun(t, b, "//deploy:load", nil, "--daemon", "docker")
			if err != nil {
				t.Fatal(err)
			}
			if version == "28" && !strings.Contains(out, "containerd") {
				t.Errorf("Docker 28 on the containerd store should be loaded through containerd:\n%s", out)
			}
			got, err := d.Run(helloRef)
			if err != nil || !strings.Contains(got, "hello, rules_img from linux/amd64 args=one") {
				t.Fatalf("docker run: %v %q", err, got)
			}
			if version == "28" {
				out, err := bazelRun(t, b, "//deploy:load", nil, "--daemon", "docker")
				if err != nil || !strings.Contains(out, "0 blobs written") {
					t.Errorf("second load into Docker 28 should write nothing (%v):\n%s", err, out)
				}
			}
			if version == "20.10" {
				// The tarball output group is what `docker load` takes.
				if _, err := ws.Must("build", "//deploy:load", "--output_groups=tarball"); err != nil {
					t.Fatal(err)
				}
				files, err := ws.OutputFiles("//deploy:load", "tarball")
				if err != nil || len(files) != 1 {
					t.Fatalf("tarball: %v %v", files, err)
				}
				if _, err := d.CLI("rmi", helloRef); err != nil {
					t.Fatal(err)
				}
				if out, err := d.CLI("load", "-i", files[0]); err != nil {
					t.Fatalf("docker load: %v\n%s", err, out)
				}
				if got, err := d.Run(helloRef, "tarball"); err != nil || !strings.Contains(got, "args=tarball") {
					t.Fatalf("docker run after loading the tarball: %v %q", err, got)
				}
			}
		})
	}
}

func TestLoadPodman(t *testing.T) {
	p, err := harness.NewPodman()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{"IMG_PODMAN_FLAGS=" + strings.Join(p.Flags(), " ")}}
	if _, err := bazelRun(t, b, "//deploy:load", nil, "--daemon", "podman"); err != nil {
		t.Fatal(err)
	}
	got, err := p.Run(helloRef, "podman")
	if err != nil || !strings.Contains(got, "args=podman") {
		t.Fatalf("podman run: %v %q", err, got)
	}
}

func TestLoadTarDaemon(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "hello.tar")
	if _, err := bazelRun(t, ws, "//deploy:load", nil, "--daemon", "tar", "--output", out); err != nil {
		t.Fatal(err)
	}
	// The tarball is what `docker load` reads: skopeo finds the image under
	// its tag, and containerd imports it and runs it.
	raw, err := harness.Skopeo("inspect", "--raw", "docker-archive:"+out+":"+helloRef)
	if err != nil {
		t.Fatalf("skopeo reads the tarball: %v\n%s", err, raw)
	}
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Config.Digest == "" || len(m.Layers) == 0 {
		t.Fatalf("skopeo's manifest of the tarball: %v\n%s", err, raw)
	}
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	if got, err := ctrd.Ctr("images", "import", out); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, got)
	}
	got, err := ctrd.Run(helloRef, "tar-run")
	if err != nil || !strings.Contains(got, "hello, rules_img from linux/amd64 args=one") {
		t.Fatalf("run the imported image: %v %q", err, got)
	}
	// A relative --output is relative to where bazel ran, not the runfiles;
	// the same image gives the same bytes.
	rel := filepath.Join(ws.Workspace, "e2e-load-tar-daemon.tar")
	defer os.Remove(rel)
	if _, err := bazelRun(t, ws, "//deploy:load", nil, "--daemon", "tar", "--output", filepath.Base(rel)); err != nil {
		t.Fatal(err)
	}
	a, errA := os.ReadFile(out)
	b, errB := os.ReadFile(rel)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Fatalf("relative --output: %v %v; %d bytes, want the %d of the first tarball", errA, errB, len(b), len(a))
	}
}

// TestLoadTarballOfIndexFollowsTargetPlatform: the tarball output group of
// an index holds the target platform's manifest, whatever machine runs the
// action, so the bytes do not depend on where it runs.
func TestLoadTarballOfIndexFollowsTargetPlatform(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		arch  string
	}{
		{nil, "amd64"},
		{[]string{"--platforms=//platforms:linux_arm64"}, "arm64"},
	} {
		args := append([]string{"build", "//deploy:load_index", "--output_groups=tarball"}, tc.flags...)
		if r := ws.Run(args...); r.Err != nil {
			t.Fatalf("%v: %v\n%s", tc.flags, r.Err, tailLines(r.Stderr, 30))
		}
		files, err := ws.OutputFiles("//deploy:load_index", "tarball", tc.flags...)
		if err != nil || len(files) != 1 {
			t.Fatalf("%v: tarball output: %v %v", tc.flags, files, err)
		}
		var cfg config
		if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--config", "docker-archive:"+files[0])), &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != tc.arch {
			t.Errorf("%v: the tarball holds %s/%s, want linux/%s", tc.flags, cfg.OS, cfg.Architecture, tc.arch)
		}
	}
}
