package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
)

// BES is rules_img's Build Event Service backend (cmd/bes), built from this
// checkout and started on a free loopback port.
type BES struct {
	top  string
	proc *daemon
	addr string
}

var besBuild struct {
	once sync.Once
	path string
	err  error
}

// besBinary builds cmd/bes once per test process.
func besBinary() (string, error) {
	besBuild.once.Do(func() {
		dir, err := TempDir("rules_img_e2e_bes_bin-")
		if err != nil {
			besBuild.err = err
			return
		}
		besBuild.path = filepath.Join(dir, "bes")
		cmd := exec.Command("go", "build", "-o", besBuild.path, "./cmd/bes")
		cmd.Dir = RepoRoot()
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			besBuild.err = fmt.Errorf("go build ./cmd/bes: %v\n%s", err, out)
		}
	})
	return besBuild.path, besBuild.err
}

// StartBES starts the backend reading the CAS at casEndpoint (grpc://...).
func StartBES(casEndpoint string, extra ...string) (*BES, error) {
	bin, err := besBinary()
	if err != nil {
		return nil, err
	}
	top, err := TempDir("bes")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &BES{top: top, addr: "127.0.0.1:" + strconv.Itoa(port)}
	args := append([]string{"--port", strconv.Itoa(port), "--cas-endpoint", casEndpoint}, extra...)
	if b.proc, err = startDaemon(exec.Command(bin, args...), top, "bes.log"); err != nil {
		os.RemoveAll(top)
		return nil, err
	}
	if err := b.proc.waitListening(b.addr, "bes"); err != nil {
		b.Stop()
		return nil, err
	}
	return b, nil
}

// Addr is what Bazel's --bes_backend takes after grpc://.
func (b *BES) Addr() string { return b.addr }

// Log returns everything the backend logged.
func (b *BES) Log() string {
	out, _ := os.ReadFile(filepath.Join(b.top, "bes.log"))
	return string(out)
}

// Stop ends the backend by PID and removes its directory.
func (b *BES) Stop() {
	b.proc.stop()
	os.RemoveAll(b.top)
}
