package daemon

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/tarball"
)

// startDockerd boots a private dockerd (classic storage, vfs, no networking)
// on the test's own containerd and returns its host, or skips the test.
func startDockerd(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker client is not installed")
	}
	c := startContainerd(t) // skips unless root
	dir, err := os.MkdirTemp("/tmp", "dkd")
	if err != nil {
		t.Fatal(err)
	}
	host := "unix://" + filepath.Join(dir, "d.sock")
	var log bytes.Buffer
	cmd := exec.Command("dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "d.pid"), "-H", host, "--containerd", c.socket,
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM lets dockerd unmount and clean up; kill it if it hangs.
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if exec.Command("docker", "-H", host, "info").Run() == nil {
			return host
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer on %s; log:\n%s", host, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLoadIntoDocker(t *testing.T) {
	host := startDockerd(t)
	// zstd too: Docker before 23 cannot read it, so the archive holds it
	// decompressed.
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "hello", "hello\n"), imagetest.ZstdLayer(t, "z", "zstd layer\n"))
	img := imagetest.Index(t, m)
	for _, daemon := range []string{"docker", "auto"} {
		t.Run(daemon, func(t *testing.T) {
			t.Setenv("CONTAINERD_ADDRESS", "") // auto would try it first
			var progress bytes.Buffer
			res, err := Load(context.Background(), img, Options{Daemon: daemon, DockerHost: host,
				Tags: []string{"hello:" + daemon, "registry.example/app:" + daemon}, Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("progress:\n%s", progress.String())
			if !strings.HasPrefix(res.Daemon, "docker ") || !strings.HasSuffix(res.Daemon, "(docker load)") || res.BlobsWritten != 3 {
				t.Errorf("result %+v", res)
			}
			for _, name := range []string{"hello:" + daemon, "registry.example/app:" + daemon} {
				out, err := exec.Command("docker", "-H", host, "image", "inspect", "--format", "{{.Id}}", name).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != m.ConfigDigest {
					t.Errorf("docker image inspect %s: %s %v; want ID %s", name, out, err, m.ConfigDigest)
				}
			}
		})
	}
}

func TestDockerErrors(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker client is not installed")
	}
	host := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "b"))
	_, err := Load(context.Background(), imagetest.Index(t, m), Options{Daemon: "docker", DockerHost: host, Tags: []string{"x"}, Label: "//a:b"})
	if err == nil || !strings.HasPrefix(err.Error(), "//a:b: load into docker: docker info: ") || !strings.Contains(err.Error(), "start Docker or set DOCKER_HOST") {
		t.Errorf("no daemon: %v", err)
	}
}

// fakeDocker puts a docker client on PATH that answers `info` with a Docker
// on the containerd image store at socket, `image inspect` from that
// containerd's moby namespace, and `load` by saving the archive.
func fakeDocker(t *testing.T, socket string) (loaded string) {
	t.Helper()
	dir := t.TempDir()
	loaded = filepath.Join(dir, "loaded.tar")
	info := `{"ServerVersion":"28.2.2","Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]],` +
		`"Containerd":{"Address":"` + socket + `","Namespaces":{"Containers":"moby","Plugins":"plugins.moby"}}}`
	script := `#!/bin/sh
[ "$1" = -H ] && shift 2
case "$1" in
info) echo '` + info + `' ;;
image) ctr -a '` + socket + `' -n moby images ls -q | grep -qxF "$5" ;;
load) cat > '` + loaded + `' && echo "Loaded image: hello:v1" ;;
*) exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return loaded
}

// Docker on the containerd image store is loaded through its containerd,
// in Docker's namespace, incrementally.
func TestDockerOnContainerdStore(t *testing.T) {
	c := startContainerd(t)
	fakeDocker(t, c.socket)
	t.Setenv("CONTAINERD_ADDRESS", "")
	t.Setenv("CONTAINERD_NAMESPACE", "")
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "hello", "hello\n"))
	img := imagetest.Index(t, m)
	var progress bytes.Buffer
	opts := Options{Daemon: "docker", Tags: []string{"hello:v1"}, Progress: &progress}
	res, err := Load(context.Background(), img, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", progress.String())
	if want := "docker 28.2.2 (containerd image store: unix://" + c.socket + ", namespace moby)"; res.Daemon != want || res.BlobsWritten != 3 {
		t.Errorf("result %+v, want daemon %s", res, want)
	}
	c.ns = "moby"
	if out := c.ctr(t, "images", "ls", "-q"); !strings.Contains(out, "docker.io/library/hello:v1") {
		t.Errorf("moby namespace lacks the image:\n%s", out)
	}
	if res, err = Load(context.Background(), img, opts); err != nil || res.BlobsSkipped != 3 || res.BlobsWritten != 0 {
		t.Errorf("second load: %+v %v", res, err)
	}

	// Asked for containerd on the same socket, the load lands in Docker's
	// namespace too, so that `docker images` shows it.
	opts = Options{Daemon: "containerd", ContainerdAddress: c.socket, Tags: []string{"other:v1"}}
	if res, err = Load(context.Background(), img, opts); err != nil || !strings.HasSuffix(res.Daemon, "namespace moby)") {
		t.Errorf("containerd beside Docker: %+v %v", res, err)
	}
}

// When Docker's containerd socket cannot be reached, `docker load` takes
// the archive instead, with a warning.
func TestDockerOnContainerdStoreUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root like the other daemon tests")
	}
	missing := filepath.Join(t.TempDir(), "none.sock")
	loaded := fakeDocker(t, missing)
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "hello", "hello\n"))
	var progress bytes.Buffer
	res, err := Load(context.Background(), imagetest.Index(t, m), Options{Daemon: "docker", Tags: []string{"hello:v1"}, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Daemon != "docker 28.2.2 (docker load)" || !strings.Contains(progress.String(), "warning: Docker keeps images in containerd, but no containerd socket at "+missing) {
		t.Errorf("result %+v; progress:\n%s", res, progress.String())
	}
	got, err := os.ReadFile(loaded)
	if err != nil {
		t.Fatal(err)
	}
	want, err := archiveOf(m, "hello:v1")
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("docker load got %d bytes, not the archive (%v)", len(got), err)
	}
	if res.BytesWritten != int64(len(want)) {
		t.Errorf("BytesWritten %d, want %d", res.BytesWritten, len(want))
	}
}

func archiveOf(m image.Manifest, tags ...string) ([]byte, error) {
	var b bytes.Buffer
	err := tarball.Write(context.Background(), &b, m, tags)
	return b.Bytes(), err
}
