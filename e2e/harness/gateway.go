package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Gateway is `img gateway` on a unix socket in a temp dir, with the policy
// and docker config the test gives it. Stop kills it by PID.
type Gateway struct {
	Socket string
	top    string
	proc   *daemon
}

// StartGateway writes policy (JSON) and dockerConfig (a config.json, "" for
// none) and starts the gateway with them and extra flags.
func StartGateway(policy, dockerConfig string, extra ...string) (*Gateway, error) {
	bin, err := ImgBinary()
	if err != nil {
		return nil, err
	}
	top, err := TempDir("gateway")
	if err != nil {
		return nil, err
	}
	g := &Gateway{Socket: filepath.Join(top, "gw.sock"), top: top}
	args := []string{"gateway", "--unix-socket", g.Socket, "--policy-file", filepath.Join(top, "policy.json")}
	if err := os.WriteFile(filepath.Join(top, "policy.json"), []byte(policy), 0o644); err != nil {
		return nil, err
	}
	if dockerConfig != "" {
		if err := os.WriteFile(filepath.Join(top, "config.json"), []byte(dockerConfig), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--docker-config", filepath.Join(top, "config.json"))
	}
	if g.proc, err = startDaemon(exec.Command(bin, append(args, extra...)...), top, "gateway.log"); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if conn, err := net.Dial("unix", g.Socket); err == nil {
			conn.Close()
			return g, nil
		}
		if !g.proc.running() || time.Now().After(deadline) {
			g.Stop()
			return nil, fmt.Errorf("img gateway did not listen on %s:\n%s", g.Socket, g.proc.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Endpoint is the value of the registry gateway settings.
func (g *Gateway) Endpoint() string { return "unix:" + g.Socket }

// Log returns the gateway's decisions and errors.
func (g *Gateway) Log() string { return g.proc.logTail() }

// Stop ends the gateway by PID and removes its directory.
func (g *Gateway) Stop() {
	g.proc.stop()
	os.RemoveAll(g.top)
}
