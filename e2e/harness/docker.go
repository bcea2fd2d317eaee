package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Docker is a dockerd of our own: data root, exec root, sockets and logs in
// one temp dir, no networking set up (no bridge, no iptables), stopped by PID.
//
//   - "20.10": Debian's docker.io, vfs graph driver, with the containerd it
//     starts itself (Debian's 1.6).
//   - "28": Docker 28 and containerd 2.1 unpacked from sid by tools/setup.sh
//     into $RULES_IMG_CACHE/docker28, on the containerd image store. We start
//     that containerd ourselves so ContainerdAddress can name its socket;
//     dockerd keeps its images in containerd namespace "moby".
type Docker struct {
	Version string
	Dir     string // everything the daemons write; short, for socket paths
	socket  string
	ctrdSoc string // our containerd's socket (28 only)
	client  string // docker CLI binary
	path    string // PATH for the daemons and the CLI
	dockerd *daemon
	ctrd    *daemon
}

// StartDocker boots dockerd of version "20.10" or "28" and waits until it
// answers /_ping.
func StartDocker(version string) (*Docker, error) {
	var dockerd, containerd string
	d := &Docker{Version: version, path: os.Getenv("PATH")}
	switch version {
	case "20.10":
		// Debian's client matches the daemon; /usr/local/bin/docker may be newer.
		dockerd, d.client = "/usr/sbin/dockerd", "/usr/bin/docker"
		if _, err := os.Stat(dockerd); err != nil {
			return nil, fmt.Errorf("dockerd 20.10 is not installed (Debian package docker.io; tools/setup.sh installs it): %w", err)
		}
		if _, err := os.Stat(d.client); err != nil {
			if d.client, err = exec.LookPath("docker"); err != nil {
				return nil, fmt.Errorf("no docker client: %w", err)
			}
		}
	case "28":
		root := Docker28Dir()
		dockerd, containerd = filepath.Join(root, "usr/sbin/dockerd"), filepath.Join(root, "usr/bin/containerd")
		d.client = filepath.Join(root, "usr/bin/docker")
		for _, f := range []string{dockerd, containerd, d.client} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("Docker 28 is not unpacked (tools/setup.sh does it): %w", err)
			}
		}
		// containerd finds containerd-shim-runc-v2 on PATH: the one next to it.
		d.path = filepath.Join(root, "usr/sbin") + ":" + filepath.Join(root, "usr/bin") + ":" + d.path
	default:
		return nil, fmt.Errorf("StartDocker: unknown version %q, want 20.10 or 28", version)
	}
	var err error
	if d.Dir, err = TempDir("rie-"); err != nil {
		return nil, err
	}
	d.socket = filepath.Join(d.Dir, "docker.sock")
	fail := func(err error) (*Docker, error) {
		d.Stop()
		return nil, err
	}

	config := "{}"
	driver := "vfs"
	var extra []string
	if version == "28" {
		if err := d.startContainerd(containerd); err != nil {
			return fail(err)
		}
		// Docker 28 keeps the graph drivers unless told otherwise; on the
		// containerd store the driver names a snapshotter, and containerd has
		// "native" where the graph drivers had vfs.
		config = `{"features":{"containerd-snapshotter":true}}`
		driver = "native"
		extra = append(extra, "--containerd="+d.ctrdSoc)
	}
	configPath := filepath.Join(d.Dir, "daemon.json")
	// An empty file is not valid JSON to dockerd, and without --config-file it
	// would read /etc/docker/daemon.json.
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return fail(err)
	}
	args := append([]string{
		"--iptables=false", "--ip6tables=false", "--bridge=none",
		"--storage-driver=" + driver,
		"--data-root=" + filepath.Join(d.Dir, "data"),
		"--exec-root=" + filepath.Join(d.Dir, "x"),
		"--pidfile=" + filepath.Join(d.Dir, "docker.pid"),
		"--host=unix://" + d.socket,
		"--config-file=" + configPath,
	}, extra...)
	cmd := exec.Command(dockerd, args...)
	cmd.Env = d.env()
	if d.dockerd, err = startDaemon(cmd, d.Dir, "dockerd.log"); err != nil {
		return fail(err)
	}
	if err := waitPing(d.socket, d.dockerd, 60*time.Second); err != nil {
		return fail(fmt.Errorf("dockerd %s: %v; log:\n%s", version, err, d.Log()))
	}
	return d, nil
}

// Docker28Dir is where tools/setup.sh unpacks Docker 28 and containerd 2.
func Docker28Dir() string { return filepath.Join(cacheDir(), "docker28") }

func (d *Docker) startContainerd(bin string) error {
	d.ctrdSoc = filepath.Join(d.Dir, "containerd.sock")
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(d.Dir, "ctrd-root"), filepath.Join(d.Dir, "ctrd-state"), d.ctrdSoc,
		filepath.Join(d.Dir, "ctrd-t.sock"), filepath.Join(d.Dir, "ctrd-d.sock"))
	configPath := filepath.Join(d.Dir, "containerd.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "--config", configPath)
	cmd.Env = d.env()
	var err error
	if d.ctrd, err = startDaemon(cmd, d.Dir, "containerd.log"); err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if !d.ctrd.running() {
			return fmt.Errorf("containerd exited at start; log:\n%s", d.ctrd.logTail())
		}
		if conn, err := net.Dial("unix", d.ctrdSoc); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("containerd did not open %s within 20s; log:\n%s", d.ctrdSoc, d.ctrd.logTail())
}

// waitPing polls the Engine API's /_ping on socket until it answers 200.
func waitPing(socket string, proc *daemon, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !proc.running() {
			return fmt.Errorf("exited at start")
		}
		if resp, err := client.Get("http://docker/_ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within %s", socket, timeout)
}

// env is our environment with the daemons' PATH and a CLI config of our own
// (no credentials or contexts from the user's ~/.docker).
func (d *Docker) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, kv)
		}
	}
	return append(env, "PATH="+d.path, "DOCKER_CONFIG="+filepath.Join(d.Dir, "cli"))
}

// Env is what a process needs to use this daemon with a docker client:
// DOCKER_HOST, and DOCKER_CONFIG pointing at an empty config of our own.
func (d *Docker) Env() []string {
	return []string{"DOCKER_HOST=" + d.Host(), "DOCKER_CONFIG=" + filepath.Join(d.Dir, "cli")}
}

// Host is the daemon's address for DOCKER_HOST or -H: unix:///….
func (d *Docker) Host() string { return "unix://" + d.socket }

// ContainerdAddress is the socket of the containerd behind Docker 28 (a
// path, as CONTAINERD_ADDRESS takes it), or "" for 20.10, whose image store
// is not containerd's.
func (d *Docker) ContainerdAddress() string { return d.ctrdSoc }

// CLI runs the docker client against this daemon and returns its combined
// output.
func (d *Docker) CLI(args ...string) (string, error) {
	cmd := exec.Command(d.client, append([]string{"--host", d.Host()}, args...)...)
	cmd.Env = d.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 30))
	}
	return out.String(), nil
}

// Run runs a container of image to completion and returns its output. There
// is no bridge, so it has no network. Docker 28 wants fully normalised names
// (docker.io/library/x:tag).
func (d *Docker) Run(image string, args ...string) (string, error) {
	return d.CLI(append([]string{"run", "--rm", "--network", "none", image}, args...)...)
}

// Log returns the tail of what dockerd (and for 28, our containerd) printed.
func (d *Docker) Log() string {
	var s string
	if d.dockerd != nil {
		s = "dockerd:\n" + d.dockerd.logTail()
	}
	if d.ctrd != nil {
		s += "\ncontainerd:\n" + d.ctrd.logTail()
	}
	return s
}

// Stop kills dockerd, then our containerd, then anything else still running
// from the temp dir (shims), unmounts what is left there and removes it.
// Later calls do nothing.
func (d *Docker) Stop() {
	d.dockerd.stop()
	d.ctrd.stop()
	d.dockerd, d.ctrd = nil, nil
	if d.Dir == "" {
		return
	}
	for _, pid := range procsUsing(d.Dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	unmountUnder(d.Dir)
	os.RemoveAll(d.Dir)
}

// procsUsing returns the PIDs of processes whose command line names a path
// in dir, such as shims given a socket there.
func procsUsing(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(dir+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unmountUnder detaches mounts left below dir (network namespaces, rootfs),
// deepest first, so that RemoveAll does not stop at a busy mount point.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
