package daemon

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/tarball"
)

// podmanFlags gives podman private storage for the test, or skips it.
func podmanFlags(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("podman with private storage here needs root")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed")
	}
	if os.Getenv("TEST_SRCDIR") != "" {
		// podman writes under /run and /var/lib, which Bazel's sandbox
		// mounts read-only; `go test ./...` and the e2e tests run it.
		t.Skip("podman cannot run inside Bazel's sandbox")
	}
	// podman refuses a runroot longer than 50 characters.
	run, err := os.MkdirTemp("/tmp", "pm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	flags := []string{"--root", filepath.Join(t.TempDir(), "root"), "--runroot", run, "--storage-driver", "vfs"}
	t.Cleanup(func() {
		// vfs layers may hold read-only dirs: let podman remove its storage.
		exec.Command("podman", append(flags, "system", "reset", "--force")...).Run()
	})
	return flags
}

func podman(t *testing.T, flags []string, args ...string) string {
	t.Helper()
	out, err := exec.Command("podman", append(flags, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPodmanLoadsDockerArchive(t *testing.T) {
	flags := podmanFlags(t)
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "hello", "hello\n"), imagetest.ZstdLayer(t, "z", "zstd layer\n"))
	var b bytes.Buffer
	if err := tarball.Write(context.Background(), &b, m, []string{"hello:v1"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := podman(t, flags, "load", "-i", file)
	if !strings.Contains(out, "docker.io/library/hello:v1") {
		t.Errorf("podman load:\n%s", out)
	}
	id := podman(t, flags, "image", "inspect", "--format", "{{.Id}}", "hello:v1")
	if strings.TrimSpace(id) != strings.TrimPrefix(m.ConfigDigest, "sha256:") {
		t.Errorf("image ID %s, want the config digest %s", id, m.ConfigDigest)
	}
}

func TestLoadIntoPodman(t *testing.T) {
	flags := podmanFlags(t)
	t.Setenv("IMG_PODMAN_FLAGS", strings.Join(flags, " "))
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "hello", "hello\n"))
	img := imagetest.Index(t, m)
	var progress bytes.Buffer
	res, err := Load(context.Background(), img, Options{Daemon: "podman", Tags: []string{"hello:v1", "registry.example/app:dev"}, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", progress.String())
	if !strings.HasPrefix(res.Daemon, "podman ") || res.BlobsWritten != 2 || res.BytesWritten == 0 {
		t.Errorf("result %+v", res)
	}
	images := podman(t, flags, "images", "--format", "{{.Repository}}:{{.Tag}}")
	for _, want := range []string{"docker.io/library/hello:v1", "registry.example/app:dev"} {
		if !strings.Contains(images, want) {
			t.Errorf("podman images lacks %s:\n%s", want, images)
		}
	}
	if strings.Contains(images, "localhost/") {
		t.Errorf("podman made up a localhost/ name:\n%s", images)
	}
}
