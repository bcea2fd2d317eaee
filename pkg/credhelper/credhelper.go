// Package credhelper runs Bazel credential helpers (`HELPER get`, with
// {"uri": ...} on stdin and {"headers": {...}, "expires": ...} on stdout), for
// the remote cache and for registries.
package credhelper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Helper is one credential helper.
type Helper struct {
	path string
}

// New finds the helper: a path, or a name looked up on PATH.
func New(nameOrPath string) (*Helper, error) {
	path, err := exec.LookPath(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("credential helper %q: %w", nameOrPath, err)
	}
	return &Helper{path: path}, nil
}

// String names the helper (its path), for messages.
func (h *Helper) String() string { return h.path }

// helperTimeout matches Bazel's --credential_helper_timeout default.
const helperTimeout = 10 * time.Second

type cachedHeaders struct {
	headers map[string][]string
	expires time.Time // zero: for the process lifetime
}

// helperCache holds headers per helper and scheme://host, so a push of many
// layers runs the helper once per cache.
var helperCache = struct {
	sync.Mutex
	m map[string]cachedHeaders
}{m: map[string]cachedHeaders{}}

// Headers returns the helper's headers for uri, cached per scheme and host
// until they expire.
func (h *Helper) Headers(ctx context.Context, uri string) (map[string][]string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("credential helper %s: bad URI: %w", h.path, err)
	}
	key := h.path + "\x00" + strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
	helperCache.Lock()
	c, ok := helperCache.m[key]
	helperCache.Unlock()
	if ok && (c.expires.IsZero() || time.Now().Before(c.expires)) {
		return c.headers, nil
	}
	c, err = h.run(ctx, uri)
	if err != nil {
		return nil, err
	}
	helperCache.Lock()
	helperCache.m[key] = c
	helperCache.Unlock()
	return c.headers, nil
}

func (h *Helper) run(ctx context.Context, uri string) (cachedHeaders, error) {
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	req, err := json.Marshal(map[string]string{"uri": uri})
	if err != nil {
		return cachedHeaders{}, err
	}
	cmd := exec.CommandContext(ctx, h.path, "get")
	cmd.Stdin = bytes.NewReader(req)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		// Its output may hold the secret: it is never quoted.
		return cachedHeaders{}, fmt.Errorf("credential helper %s failed (%v); its output is not shown, as it may hold a secret: run `echo '{\"uri\":\"%s\"}' | %s get` to see it", h.path, err, uri, h.path)
	}
	return parseOutput(h.path, stdout.Bytes())
}

// parseOutput reads a credential helper's answer. The output holds
// secrets: errors never quote it.
func parseOutput(helper string, stdout []byte) (cachedHeaders, error) {
	var resp struct {
		Headers map[string][]string `json:"headers"`
		Expires string              `json:"expires"`
	}
	if err := json.Unmarshal(stdout, &resp); err != nil {
		return cachedHeaders{}, fmt.Errorf("credential helper %s: output is not the expected JSON", helper)
	}
	c := cachedHeaders{headers: resp.Headers}
	if resp.Expires != "" {
		t, err := time.Parse(time.RFC3339, resp.Expires)
		if err != nil {
			return cachedHeaders{}, fmt.Errorf("credential helper %s: \"expires\" is not an RFC 3339 time", helper)
		}
		c.expires = t
	}
	return c, nil
}
