package harness

import (
	"archive/tar"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// tiniImage writes a root filesystem tar holding only /tini (Debian's static
// tini), for `docker import`: a runnable image without a registry.
func tiniImage(t *testing.T) string {
	t.Helper()
	src := "/usr/bin/tini-static"
	b, err := os.ReadFile(src)
	if err != nil {
		t.Skipf("no %s (Debian package tini) to build a test image from", src)
	}
	path := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "tini", Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg})
	tw.Write(b)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDocker(t *testing.T) {
	needRoot(t)
	image := tiniImage(t)
	for _, c := range []struct{ version, dockerd string }{
		{"20.10", "/usr/sbin/dockerd"},
		{"28", filepath.Join(Docker28Dir(), "usr/sbin/dockerd")},
	} {
		t.Run(c.version, func(t *testing.T) {
			if _, err := os.Stat(c.dockerd); err != nil {
				t.Skipf("run tools/setup.sh: %v", err)
			}
			start := time.Now()
			d, err := StartDocker(c.version)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("dockerd %s up in %s", c.version, time.Since(start).Round(time.Millisecond))
			stopped := false
			defer func() {
				if !stopped {
					d.Stop()
				}
			}()
			info, err := d.CLI("info")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(info, "Server Version: "+c.version) {
				t.Errorf("docker info does not show server %s:\n%s", c.version, info)
			}
			const ref = "docker.io/library/rie-tini:v1"
			if out, err := d.CLI("import", image, ref); err != nil {
				t.Fatal(err, out)
			}
			if out, err := d.Run(ref, "/tini", "--version"); err != nil || !strings.Contains(out, "tini version") {
				t.Errorf("run: %v %q\n%s", err, out, d.Log())
			}
			switch c.version {
			case "20.10":
				if a := d.ContainerdAddress(); a != "" {
					t.Errorf("ContainerdAddress = %q, want empty for 20.10", a)
				}
			case "28":
				if !strings.Contains(info, "driver-type: io.containerd.snapshotter.v1") {
					t.Errorf("Docker 28 is not on the containerd image store:\n%s", info)
				}
				// The image dockerd stored is in the containerd we named.
				ctr := filepath.Join(Docker28Dir(), "usr/bin/ctr")
				out, err := exec.Command(ctr, "-a", d.ContainerdAddress(), "-n", "moby", "images", "ls", "-q").CombinedOutput()
				if err != nil || !strings.Contains(string(out), ref) {
					t.Errorf("ctr images ls in namespace moby: %v\n%s", err, out)
				}
			}

			pids := []int{d.dockerd.cmd.Process.Pid}
			if d.ctrd != nil {
				pids = append(pids, d.ctrd.cmd.Process.Pid)
			}
			start = time.Now()
			d.Stop()
			stopped = true
			t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
			for _, pid := range pids {
				if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
					t.Errorf("daemon PID %d still exists after Stop (kill 0: %v)", pid, err)
				}
			}
			if left := procsUsing(d.Dir); len(left) > 0 {
				t.Errorf("processes left using %s: %v", d.Dir, left)
			}
			if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
				t.Errorf("%s not removed: %v", d.Dir, err)
			}
			if _, err := net.Dial("unix", strings.TrimPrefix(d.Host(), "unix://")); err == nil {
				t.Error("the docker socket still answers")
			}
		})
	}
}
