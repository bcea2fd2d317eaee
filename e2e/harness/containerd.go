package harness

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Containerd is a containerd daemon of our own: its root, state and sockets
// live in a temp dir, and Stop kills it by PID.
type Containerd struct {
	Dir       string
	Socket    string
	Namespace string
	proc      *daemon
}

// ContainerdOptions are what a test's containerd adds to the default config.
type ContainerdOptions struct {
	// Snapshotters are served to containerd as proxy snapshotters under
	// their names ("stargz", ctr-remote's default; "soci"), for lazy pulling.
	Snapshotters []*Snapshotter
}

// StartContainerd boots containerd (Debian's package) with a private config.
func StartContainerd() (*Containerd, error) { return StartContainerdWith(ContainerdOptions{}) }

// StartContainerdWith is StartContainerd with options.
func StartContainerdWith(opts ContainerdOptions) (*Containerd, error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("containerd is not installed (tools/setup.sh installs it): %w", err)
	}
	// Unix socket paths are limited to 108 bytes: keep the dir short.
	dir, err := TempDir("ctrd")
	if err != nil {
		return nil, err
	}
	c := &Containerd{Dir: dir, Socket: filepath.Join(dir, "c.sock"), Namespace: "rules-img-e2e"}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Socket,
		filepath.Join(dir, "t.sock"), filepath.Join(dir, "d.sock"))
	if len(opts.Snapshotters) > 0 {
		config += "[proxy_plugins]\n"
	}
	for _, sn := range opts.Snapshotters {
		config += fmt.Sprintf(`  [proxy_plugins.%s]
    type = "snapshot"
    address = %q
`, sn.Name, sn.Socket)
	}
	configPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if c.proc, err = startDaemon(exec.Command(bin, "--config", configPath), dir, "containerd.log"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("unix", c.Socket); err == nil {
			conn.Close()
			return c, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Stop()
	return nil, fmt.Errorf("containerd did not open %s within 20s; log:\n%s", c.Socket, c.Log())
}

// Log returns what containerd printed.
func (c *Containerd) Log() string { return c.proc.logTail() }

// Stop kills containerd and the containers' shims it started, then removes its dir.
func (c *Containerd) Stop() {
	c.proc.stop()
	// Snapshots may hold read-only dirs; make them removable first.
	filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(c.Dir)
}

// Ctr runs the ctr client against this containerd.
func (c *Containerd) Ctr(args ...string) (string, error) { return c.client("ctr", args...) }

// CtrRemote runs ctr-remote (Debian's stargz-snapshotter), ctr with the
// stargz snapshotter's commands such as `images rpull`.
func (c *Containerd) CtrRemote(args ...string) (string, error) {
	return c.client("ctr-remote", args...)
}

func (c *Containerd) client(bin string, args ...string) (string, error) {
	all := append([]string{"-a", c.Socket, "-n", c.Namespace}, args...)
	cmd := exec.Command(bin, all...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// ImportLayout imports an OCI image layout directory under name. ctr takes a
// tar of the layout; --index-name names it, since a layout without a ref name
// would otherwise import nothing and still succeed.
func (c *Containerd) ImportLayout(layoutDir, name string, extra ...string) error {
	tarPath := filepath.Join(c.Dir, "import.tar")
	if err := TarDir(layoutDir, tarPath); err != nil {
		return err
	}
	defer os.Remove(tarPath)
	args := append([]string{"images", "import", "--snapshotter", "native", "--index-name", name}, extra...)
	_, err := c.Ctr(append(args, tarPath)...)
	return err
}

// Run runs a container of image to completion and returns its output.
func (c *Containerd) Run(image, id string, args ...string) (string, error) {
	return c.RunWith(image, id, nil, args...)
}

// RunWith is Run with extra `ctr run` flags, such as
// --mount type=bind,src=/usr,dst=/usr,options=rbind:ro.
func (c *Containerd) RunWith(image, id string, flags []string, args ...string) (string, error) {
	all := append(append([]string{"run", "--rm", "--snapshotter", "native"}, flags...), image, id)
	return c.Ctr(append(all, args...)...)
}

// TarDir writes the contents of dir into a tar file at dst.
func TarDir(dir, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
