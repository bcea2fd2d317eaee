package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RegistryOptions configures StartRegistry.
type RegistryOptions struct {
	// User and Password, when both are set, turn on htpasswd (basic) auth:
	// anonymous requests get 401.
	User, Password string
}

// Registry is a CNCF Distribution registry of our own (Debian's
// docker-registry, 2.8): plain HTTP on 127.0.0.1, storage in a temp dir,
// deletes enabled. Stop kills it by PID.
//
// Its access log (Log) is in combined log format and does record response
// body sizes, e.g. `"GET /v2/base/blobs/sha256:… HTTP/1.1" 200 604033238`,
// but not request body sizes (uploads); Proxy counts both.
type Registry struct {
	Dir            string // config, htpasswd, log and data/ (the storage root)
	User, Password string // empty without auth
	addr           string
	proc           *daemon
}

// StartRegistry boots docker-registry on a free loopback port and waits until
// /v2/ answers (200, or 401 with auth).
func StartRegistry(opts RegistryOptions) (*Registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (Debian package docker-registry): %w", err)
	}
	if (opts.User == "") != (opts.Password == "") {
		return nil, errors.New("RegistryOptions: set both User and Password, or neither")
	}
	// The free port is found by listening and closing, so another process can
	// take it before the registry binds it: retry with a new port then.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		r, err := startRegistry(bin, opts)
		if err == nil {
			return r, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startRegistry(bin string, opts RegistryOptions) (*Registry, error) {
	dir, err := TempDir("registry")
	if err != nil {
		return nil, err
	}
	r := &Registry{Dir: dir, User: opts.User, Password: opts.Password}
	fail := func(err error) (*Registry, error) {
		r.Stop()
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	r.addr = fmt.Sprintf("127.0.0.1:%d", port)
	auth := ""
	if opts.User != "" {
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := writeHtpasswd(htpasswd, opts.User, opts.Password); err != nil {
			return fail(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: e2e\n    path: %q\n", htpasswd)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
%s`, filepath.Join(dir, "data"), r.addr, auth)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return fail(err)
	}
	cmd := exec.Command(bin, "serve", configPath)
	cmd.Env = registryEnv()
	if r.proc, err = startDaemon(cmd, dir, "registry.log"); err != nil {
		return fail(err)
	}

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if !r.proc.running() {
			return fail(fmt.Errorf("docker-registry exited at start; log:\n%s", r.Log()))
		}
		if resp, err := client.Get("http://" + r.addr + "/v2/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fail(fmt.Errorf("docker-registry did not answer on %s within 20s; log:\n%s", r.addr, r.Log()))
}

// registryEnv is our environment without REGISTRY_* variables, which would
// override the config file.
func registryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			env = append(env, kv)
		}
	}
	return env
}

// writeHtpasswd writes a bcrypt htpasswd file with htpasswd (apache2-utils).
func writeHtpasswd(path, user, password string) error {
	bin, err := exec.LookPath("htpasswd")
	if err != nil {
		return fmt.Errorf("htpasswd is not installed (Debian package apache2-utils): %w", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-Bbn", user, password)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("htpasswd -Bbn: %v\n%s", err, stderr.String())
	}
	return os.WriteFile(path, stdout.Bytes(), 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns host:port, e.g. 127.0.0.1:41234.
func (r *Registry) Addr() string { return r.addr }

// Creds returns "user:password" for skopeo's --creds, or "" without auth.
func (r *Registry) Creds() string {
	if r.User == "" {
		return ""
	}
	return r.User + ":" + r.Password
}

// Log returns the tail of what the registry printed (including its access log).
func (r *Registry) Log() string { return r.proc.logTail() }

// Stop kills the registry's process group and removes its dir.
func (r *Registry) Stop() {
	r.proc.stop()
	os.RemoveAll(r.Dir)
}
