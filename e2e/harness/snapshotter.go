package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Snapshotter is a remote snapshotter of our own, built by tools/setup.sh:
// its state, cache and FUSE mounts live in a temp dir, and a containerd
// started with ContainerdOptions.Snapshotters uses it as the proxy
// snapshotter Name. Background fetching is off, so what a registry serves
// is what containers read.
type Snapshotter struct {
	Name   string // "stargz" or "soci": the proxy plugin's name
	Dir    string
	Socket string
	proc   *daemon
}

// StargzdPath is where tools/setup.sh builds the stargz snapshotter (e2e/stargzd).
func StargzdPath() string { return filepath.Join(cacheDir(), "bin", "stargzd") }

// SocidPath is where tools/setup.sh builds soci-snapshotter (e2e/socid).
func SocidPath() string { return filepath.Join(cacheDir(), "bin", "socid") }

// StartStargz starts the stargz snapshotter ("stargz", ctr-remote's default).
func StartStargz() (*Snapshotter, error) {
	s, err := newSnapshotter("stargz", StargzdPath(), "e2e/stargzd")
	if err != nil {
		return nil, err
	}
	return s, s.start(StargzdPath(), "--root", filepath.Join(s.Dir, "root"), "--address", s.Socket, "--log-level", "debug")
}

// NewSoci prepares soci-snapshotter ("soci") without starting it: it needs
// the socket of the containerd that uses it (for image manifests), and that
// containerd needs its socket first. Start it with StartFor.
func NewSoci() (*Snapshotter, error) { return newSnapshotter("soci", SocidPath(), "e2e/socid") }

// StartFor starts soci-snapshotter for the containerd at containerdSocket;
// `socid pull` pulls with it.
func (s *Snapshotter) StartFor(containerdSocket string) error {
	return s.start(SocidPath(), "serve", "--root", filepath.Join(s.Dir, "root"), "--address", s.Socket,
		"--containerd-address", containerdSocket, "--log-level", "debug")
}

func newSnapshotter(name, bin, src string) (*Snapshotter, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the %s snapshotter is not built (tools/setup.sh builds it from %s): %w", name, src, err)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("the %s snapshotter mounts layers with FUSE, and /dev/fuse is missing: %w", name, err)
	}
	dir, err := TempDir(name)
	if err != nil {
		return nil, err
	}
	return &Snapshotter{Name: name, Dir: dir, Socket: filepath.Join(dir, "s.sock")}, nil
}

// start runs the snapshotter and waits for its socket; on failure it
// cleans up.
func (s *Snapshotter) start(bin string, args ...string) error {
	var err error
	if s.proc, err = startDaemon(exec.Command(bin, args...), s.Dir, s.Name+".log"); err != nil {
		os.RemoveAll(s.Dir)
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && s.proc.running() {
		if conn, err := net.Dial("unix", s.Socket); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	log := s.Log()
	s.Stop()
	return fmt.Errorf("the %s snapshotter did not open %s within 20s; log:\n%s", s.Name, s.Socket, log)
}

// Log returns what the snapshotter printed.
func (s *Snapshotter) Log() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.logTail()
}

// Stop kills the snapshotter, detaches its FUSE mounts and removes its dir.
// Stop the containerd that uses it first.
func (s *Snapshotter) Stop() {
	if s.proc != nil {
		s.proc.stop()
	}
	unmountUnder(s.Dir)
	os.RemoveAll(s.Dir)
}
