package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// CASRegistry is rules_img's registry on the CAS (img registry), from this
// checkout's release, with its blob cache endpoint, on free loopback ports.
type CASRegistry struct {
	top            string
	proc           *daemon
	addr, grpcAddr string
	args           []string
	bin            string
	starts         int
}

// StartCASRegistry serves the REAPI CAS at reapi (grpc://...) with the
// given instance name; its data directory is its own temp dir.
func StartCASRegistry(reapi, instance string, extra ...string) (*CASRegistry, error) {
	bin, err := ImgBinary()
	if err != nil {
		return nil, err
	}
	top, err := TempDir("casreg")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	gport, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &CASRegistry{top: top, bin: bin, addr: "127.0.0.1:" + strconv.Itoa(port), grpcAddr: "127.0.0.1:" + strconv.Itoa(gport)}
	r.args = append([]string{"registry", "--reapi-endpoint", reapi, "--remote-instance-name", instance,
		"--port", strconv.Itoa(port), "--enable-blobcache", "--grpc-port", strconv.Itoa(gport),
		"--data-dir", filepath.Join(top, "data")}, extra...)
	if err := r.start(); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

func (r *CASRegistry) start() error {
	r.starts++
	var err error
	if r.proc, err = startDaemon(exec.Command(r.bin, r.args...), r.top, fmt.Sprintf("registry-%d.log", r.starts)); err != nil {
		return err
	}
	if err := r.proc.waitListening(r.addr, "registry"); err != nil {
		return err
	}
	return r.proc.waitListening(r.grpcAddr, "registry's blob cache")
}

// Restart stops the registry and starts it again with the same ports and
// data directory, and extra flags added (e.g. another --reapi-endpoint,
// which the later one wins).
func (r *CASRegistry) Restart(extra ...string) error {
	r.proc.stop()
	r.args = append(r.args, extra...)
	return r.start()
}

// Addr is the registry's HOST:PORT (plain HTTP).
func (r *CASRegistry) Addr() string { return r.addr }

// BlobCache is the value of IMG_BLOB_CACHE_ENDPOINT.
func (r *CASRegistry) BlobCache() string { return "grpc://" + r.grpcAddr }

// Log returns what the registry logged since it last started.
func (r *CASRegistry) Log() string {
	out, _ := os.ReadFile(filepath.Join(r.top, fmt.Sprintf("registry-%d.log", r.starts)))
	return string(out)
}

// PID is the registry process's, for /proc/PID/status.
func (r *CASRegistry) PID() int { return r.proc.cmd.Process.Pid }

// DataDir is the registry's --data-dir.
func (r *CASRegistry) DataDir() string { return filepath.Join(r.top, "data") }

// Terminate sends SIGTERM to the registry alone and returns a channel
// closed when it has exited; Restart starts it again.
func (r *CASRegistry) Terminate() <-chan struct{} {
	r.proc.cmd.Process.Signal(syscall.SIGTERM)
	return r.proc.exited
}

// Stop ends the registry by PID and removes its directory.
func (r *CASRegistry) Stop() {
	r.proc.stop()
	os.RemoveAll(r.top)
}
