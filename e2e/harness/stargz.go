package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Stargz is a stargz snapshotter of our own (tools/setup.sh builds
// e2e/stargzd): its state, cache and FUSE mounts live in a temp dir, and a
// containerd started with ContainerdOptions.Stargz uses it as the proxy
// snapshotter "stargz". Background fetching is off, so what a registry
// serves is what containers read.
type Stargz struct {
	Dir    string
	Socket string
	proc   *daemon
}

// StargzdPath is where tools/setup.sh builds the snapshotter.
func StargzdPath() string { return filepath.Join(cacheDir(), "bin", "stargzd") }

// StartStargz starts the snapshotter and waits for its socket.
func StartStargz() (*Stargz, error) {
	bin := StargzdPath()
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("the stargz snapshotter is not built (tools/setup.sh builds it from e2e/stargzd): %w", err)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("the stargz snapshotter mounts layers with FUSE, and /dev/fuse is missing: %w", err)
	}
	dir, err := TempDir("sgz")
	if err != nil {
		return nil, err
	}
	s := &Stargz{Dir: dir, Socket: filepath.Join(dir, "s.sock")}
	cmd := exec.Command(bin, "--root", filepath.Join(dir, "root"), "--address", s.Socket, "--log-level", "debug")
	if s.proc, err = startDaemon(cmd, dir, "stargzd.log"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && s.proc.running() {
		if conn, err := net.Dial("unix", s.Socket); err == nil {
			conn.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	log := s.Log()
	s.Stop()
	return nil, fmt.Errorf("the stargz snapshotter did not open %s within 20s; log:\n%s", s.Socket, log)
}

// Log returns what the snapshotter printed.
func (s *Stargz) Log() string { return s.proc.logTail() }

// Stop kills the snapshotter, detaches its FUSE mounts and removes its dir.
// Stop the containerd that uses it first.
func (s *Stargz) Stop() {
	s.proc.stop()
	unmountUnder(s.Dir)
	os.RemoveAll(s.Dir)
}
