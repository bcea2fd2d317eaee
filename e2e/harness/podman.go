package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Podman is podman (Debian's 4.3) on storage of our own: root, runroot and
// every other state dir podman would otherwise share in /run and
// /var/lib/containers live in a temp dir, on the vfs driver. There is no
// daemon; Stop removes the dir.
type Podman struct {
	Dir   string
	bin   string
	flags []string
}

// NewPodman prepares a fresh, empty podman store.
func NewPodman() (*Podman, error) {
	bin, err := exec.LookPath("podman")
	if err != nil {
		return nil, fmt.Errorf("podman is not installed (tools/setup.sh installs it): %w", err)
	}
	dir, err := TempDir("rie-podman-")
	if err != nil {
		return nil, err
	}
	p := &Podman{Dir: dir, bin: bin}
	// podman records the volume and tmp paths in its database and refuses
	// later calls that pass others, so every call must use all of these.
	p.flags = []string{
		"--root=" + filepath.Join(dir, "root"),
		"--runroot=" + filepath.Join(dir, "run"),
		"--storage-driver=vfs",
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--volumepath=" + filepath.Join(dir, "volumes"),
		"--network-config-dir=" + filepath.Join(dir, "networks"),
		"--events-backend=none",
	}
	return p, nil
}

// Flags are podman's global flags for this store; none contains a space.
func (p *Podman) Flags() []string { return append([]string(nil), p.flags...) }

// CLI runs podman with this store's flags and returns its combined output.
func (p *Podman) CLI(args ...string) (string, error) {
	cmd := exec.Command(p.bin, append(p.Flags(), args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 30))
	}
	return out.String(), nil
}

// Run runs a container of image to completion and returns its output, with
// no network. By default podman asks for nofile and nproc limits above the
// hard limits here, which runc cannot raise without CAP_SYS_RESOURCE: ask
// for small ones.
func (p *Podman) Run(image string, args ...string) (string, error) {
	all := append([]string{"run", "--rm", "--network", "none",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", image}, args...)
	return p.CLI(all...)
}

// Stop kills anything still running from the store (conmon of a container
// whose run was interrupted), unmounts what is left and removes the dir.
func (p *Podman) Stop() {
	for _, pid := range procsUsing(p.Dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	unmountUnder(p.Dir)
	os.RemoveAll(p.Dir)
}
