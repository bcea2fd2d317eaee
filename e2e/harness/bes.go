package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// BES is rules_img's Build Event Service backend (img bes), from this
// checkout's release, started on a free loopback port.
type BES struct {
	top    string
	proc   *daemon
	addr   string
	cmd    []string
	starts int
}

// StartBES starts the backend reading the CAS at casEndpoint (grpc://...).
func StartBES(casEndpoint string, extra ...string) (*BES, error) {
	bin, err := ImgBinary()
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
	b.cmd = append([]string{bin, "bes", "--port", strconv.Itoa(port), "--cas-endpoint", casEndpoint}, extra...)
	if err := b.start(); err != nil {
		b.Stop()
		return nil, err
	}
	return b, nil
}

func (b *BES) start() error {
	b.starts++
	var err error
	if b.proc, err = startDaemon(exec.Command(b.cmd[0], b.cmd[1:]...), b.top, fmt.Sprintf("bes-%d.log", b.starts)); err != nil {
		return err
	}
	return b.proc.waitListening(b.addr, "bes")
}

// Restart stops the backend (SIGTERM, as a deployment would) and starts a
// new one on the same port.
func (b *BES) Restart() error {
	b.proc.stop()
	return b.start()
}

// Addr is what Bazel's --bes_backend takes after grpc://.
func (b *BES) Addr() string { return b.addr }

// Log returns everything the backend logged since it last started.
func (b *BES) Log() string {
	out, _ := os.ReadFile(filepath.Join(b.top, fmt.Sprintf("bes-%d.log", b.starts)))
	return string(out)
}

// Stop ends the backend by PID and removes its directory.
func (b *BES) Stop() {
	b.proc.stop()
	os.RemoveAll(b.top)
}
