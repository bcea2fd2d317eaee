package harness

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// NginxCache is nginx (Debian's nginx-light) serving a directory with GET
// and WebDAV PUT on 127.0.0.1: the layout Bazel's HTTP remote cache expects
// (--remote_cache=URL writes DIR/ac/<hex> and DIR/cas/<hex>). Stop kills it
// by PID.
type NginxCache struct {
	top  string // config, logs, temp files and the data dir
	data string
	port int
	proc *daemon
}

// StartNginxCache boots nginx on a free loopback port and waits until it
// answers.
func StartNginxCache() (*NginxCache, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return nil, fmt.Errorf("nginx is not installed (Debian package nginx-light): %w", err)
	}
	// As in StartRegistry: the port can be taken between choosing and binding.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		n, err := startNginx(bin)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startNginx(bin string) (*NginxCache, error) {
	top, err := TempDir("nginx")
	if err != nil {
		return nil, err
	}
	n := &NginxCache{top: top, data: filepath.Join(top, "data")}
	fail := func(err error) (*NginxCache, error) {
		n.Stop()
		return nil, err
	}
	// The master runs as root; workers, which write the uploads, run as an
	// unprivileged user that must own the data and temp dirs (else PUT is 500).
	uid, gid, name, err := workerUser()
	if err != nil {
		return fail(err)
	}
	if err := os.Chmod(top, 0o755); err != nil {
		return fail(err)
	}
	tmp := filepath.Join(top, "tmp")
	for _, d := range []string{n.data, filepath.Join(n.data, "ac"), filepath.Join(n.data, "cas"), tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fail(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return fail(err)
		}
	}
	if n.port, err = freePort(); err != nil {
		return fail(err)
	}
	config := fmt.Sprintf(`user %[1]s;
daemon off;
worker_processes 2;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 256; }
http {
	access_log %[2]s/access.log;
	client_body_temp_path %[3]s/body;
	proxy_temp_path %[3]s/proxy;
	fastcgi_temp_path %[3]s/fastcgi;
	uwsgi_temp_path %[3]s/uwsgi;
	scgi_temp_path %[3]s/scgi;
	client_max_body_size 0;
	sendfile on;
	server {
		listen 127.0.0.1:%[4]d;
		root %[5]s;
		location / {
			dav_methods PUT;
			create_full_put_path on;
			dav_access user:rw group:r all:r;
		}
	}
}
`, name, top, tmp, n.port, n.data)
	configPath := filepath.Join(top, "nginx.conf")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return fail(err)
	}
	// -e: nginx opens its compiled-in error log before reading the config.
	cmd := exec.Command(bin, "-p", top+"/", "-e", filepath.Join(top, "error.log"), "-c", configPath)
	if n.proc, err = startDaemon(cmd, top, "nginx.out"); err != nil {
		return fail(err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if !n.proc.running() {
			return fail(fmt.Errorf("nginx exited at start; log:\n%s", n.Log()))
		}
		if resp, err := client.Get(n.URL() + "/"); err == nil {
			resp.Body.Close()
			return n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fail(fmt.Errorf("nginx did not answer on %s within 20s; log:\n%s", n.URL(), n.Log()))
}

// workerUser is the user nginx's workers run as: Debian's www-data.
func workerUser() (uid, gid int, name string, err error) {
	var u *user.User
	for _, name = range []string{"www-data", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return 0, 0, "", fmt.Errorf("no user for nginx workers: %w", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return 0, 0, "", err
	}
	return uid, gid, name + " " + g.Name, nil
}

// URL is the cache's base URL, http://127.0.0.1:PORT, for --remote_cache.
func (n *NginxCache) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.port) }

// Dir is the served root: DIR/cas/<hex> are blobs, DIR/ac/<hex> action results.
func (n *NginxCache) Dir() string { return n.data }

func (n *NginxCache) casPath(digest string) string {
	return filepath.Join(n.data, "cas", strings.TrimPrefix(digest, "sha256:"))
}

// Has reports whether the cache holds the blob with this digest
// ("sha256:<hex>" or "<hex>").
func (n *NginxCache) Has(digest string) bool {
	_, err := os.Stat(n.casPath(digest))
	return err == nil
}

// Delete evicts a blob ("sha256:<hex>" or "<hex>"), as a cache may.
func (n *NginxCache) Delete(digest string) { os.Remove(n.casPath(digest)) }

// Log returns the tail of nginx's error log and access log.
func (n *NginxCache) Log() string {
	var s string
	for _, f := range []string{"error.log", "access.log", "nginx.out"} {
		if b, err := os.ReadFile(filepath.Join(n.top, f)); err == nil && len(b) > 0 {
			s += f + ":\n" + tail(string(b), 20) + "\n"
		}
	}
	return s
}

// Stop kills nginx's process group and removes its dir. Later calls do
// nothing.
func (n *NginxCache) Stop() {
	n.proc.stop()
	n.proc = nil
	os.RemoveAll(n.top)
}
