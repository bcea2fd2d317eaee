package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// daemon is a peer process the harness started: in its own process group
// (so Stop also ends what it spawned, such as containerd's shims), with its
// output in a log file.
type daemon struct {
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	exited  chan struct{}
}

// startDaemon starts cmd with its output in dir/logName.
func startDaemon(cmd *exec.Cmd, dir, logName string) (*daemon, error) {
	d := &daemon{cmd: cmd, logPath: filepath.Join(dir, logName), exited: make(chan struct{})}
	var err error
	if d.log, err = os.Create(d.logPath); err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = d.log, d.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		d.log.Close()
		return nil, err
	}
	go func() { cmd.Wait(); close(d.exited) }()
	return d, nil
}

// running reports whether the process is still up.
func (d *daemon) running() bool {
	select {
	case <-d.exited:
		return false
	default:
		return true
	}
}

// waitListening waits up to 20 s until addr accepts TCP connections; what
// names the process in the error, which carries its log's tail.
func (d *daemon) waitListening(addr, what string) error {
	for deadline := time.Now().Add(20 * time.Second); ; {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return nil
		}
		if !d.running() || time.Now().After(deadline) {
			return fmt.Errorf("%s did not listen on %s:\n%s", what, addr, d.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the last lines the process printed.
func (d *daemon) logTail() string {
	b, _ := os.ReadFile(d.logPath)
	return tail(string(b), 40)
}

// stop sends SIGTERM to the process group, then SIGKILL after 10 s.
func (d *daemon) stop() {
	if d == nil {
		return
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
	}
	d.log.Close()
}
