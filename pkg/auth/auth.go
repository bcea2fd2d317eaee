// Package auth resolves registry credentials the way the docker CLI does,
// from a docker config.json and credential helpers, as a go-containerregistry
// Keychain. It reads the config itself rather than through docker/cli so
// that an explicit config path works where $HOME is not set (Bazel
// repository rules) and so that no error ever quotes a secret.
package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/rules-img/rules_img/pkg/credhelper"
)

// Options selects where credentials come from.
type Options struct {
	// DockerConfig is an explicit config.json path (a directory holding
	// config.json is accepted too). Empty: $DOCKER_CONFIG/config.json, else
	// $HOME/.docker/config.json; a missing default file means anonymous.
	DockerConfig string
	// CredentialHelper names a helper ("e2etest" runs
	// docker-credential-e2etest) used for every registry instead of the
	// config.
	CredentialHelper string
	// BazelHelper is a Bazel credential helper (credential_helper_oci_registry):
	// asked first for every registry, with https://HOST; when it answers no
	// Authorization header, the docker config decides.
	BazelHelper string
}

// dockerHubKey is the key docker stores Docker Hub credentials under, and
// the server URL it passes to credential helpers for Docker Hub.
const dockerHubKey = "https://index.docker.io/v1/"

// helperTimeout bounds a credential helper run: a helper waiting for a
// desktop unlock prompt must not hang a build forever.
var helperTimeout = 2 * time.Minute

// Keychain implements authn.Keychain. Lookups are cached per registry, so a
// helper runs at most once per registry and process.
type Keychain struct {
	configPath string // "" when no config file is used
	config     dockerConfig
	helper     string // explicit helper, overrides config
	bazel      *credhelper.Helper

	mu    sync.Mutex
	cache map[string]resolved
}

type resolved struct {
	auth   authn.Authenticator
	source string
}

var _ authn.Keychain = (*Keychain)(nil)

// dockerConfig is the part of docker's config.json that holds credentials.
type dockerConfig struct {
	Auths       map[string]authEntry `json:"auths"`
	CredsStore  string               `json:"credsStore"`
	CredHelpers map[string]string    `json:"credHelpers"`
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// New builds a Keychain. It reads the config file now, so a broken or
// missing explicit config is reported before any network traffic.
func New(opts Options) (*Keychain, error) {
	k := &Keychain{helper: opts.CredentialHelper, cache: map[string]resolved{}}
	if k.helper != "" && strings.ContainsAny(k.helper, `/\`) {
		return nil, fmt.Errorf("credential helper %q: give the name after docker-credential-, not a path", k.helper)
	}
	if opts.BazelHelper != "" {
		var err error
		if k.bazel, err = credhelper.New(opts.BazelHelper); err != nil {
			return nil, err
		}
	}
	path, explicit := opts.DockerConfig, opts.DockerConfig != ""
	if !explicit {
		path = DefaultConfigPath()
	} else if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	if path == "" {
		return k, nil
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	if err := json.Unmarshal(b, &k.config); err != nil {
		// Not %w: a JSON syntax error may quote the text around it.
		return nil, fmt.Errorf("docker config %s is not valid JSON", path)
	}
	k.configPath = path
	return k, nil
}

// DefaultConfigPath is where docker looks for config.json when no path is
// given: $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json. It is
// "" when neither variable is set.
func DefaultConfigPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".docker", "config.json")
	}
	return ""
}

// Resolve implements authn.Keychain.
func (k *Keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain.
func (k *Keychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	host := NormalizeHost(r.RegistryStr())
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.cache[host]; ok {
		return c.auth, nil
	}
	a, source, err := k.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	k.cache[host] = resolved{a, source}
	return a, nil
}

// Source tells, without secrets, where the credentials for registry came
// from, for error messages; it is only meaningful after Resolve.
func (k *Keychain) Source(registry string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.cache[NormalizeHost(registry)]; ok {
		return c.source
	}
	return k.Describe()
}

// Describe says where credentials would come from, for messages.
func (k *Keychain) Describe() string {
	if k.bazel != nil {
		return "Bazel credential helper " + k.bazel.String() + ", then " + k.describeDocker()
	}
	return k.describeDocker()
}

func (k *Keychain) describeDocker() string {
	switch {
	case k.helper != "":
		return "credential helper docker-credential-" + k.helper
	case k.configPath != "":
		return "docker config " + k.configPath
	}
	return "no docker config (anonymous)"
}

func (k *Keychain) lookup(ctx context.Context, host string) (authn.Authenticator, string, error) {
	if k.bazel != nil {
		a, err := fromBazelHelper(ctx, k.bazel, host)
		if err != nil || a != nil {
			return a, "Bazel credential helper " + k.bazel.String(), err
		}
	}
	if k.helper != "" {
		// The explicit helper overrides the config: no fallback, so a test
		// or CI setup sees exactly what its helper returns.
		return k.fromHelper(ctx, k.helper, host)
	}
	if k.configPath == "" {
		return authn.Anonymous, "anonymous (no docker config found)", nil
	}
	helper := ""
	for key, h := range k.config.CredHelpers {
		if NormalizeHost(key) == host {
			helper = h
			break
		}
	}
	if helper == "" {
		helper = k.config.CredsStore
	}
	if helper != "" {
		a, source, err := k.fromHelper(ctx, helper, host)
		if err != nil || a != authn.Anonymous {
			return a, source, err
		}
		// Nothing stored in the helper: fall back to "auths" below, which
		// is friendlier than docker's anonymous pull in this case.
	}
	if e, key, ok := k.authsEntry(host); ok {
		a, err := e.authenticator()
		if err != nil {
			return nil, "", fmt.Errorf("docker config %s, auths entry %q: %w", k.configPath, key, err)
		}
		return a, fmt.Sprintf("docker config %s (auths entry %q)", k.configPath, key), nil
	}
	return authn.Anonymous, fmt.Sprintf("anonymous (docker config %s has no credentials for %s)", k.configPath, host), nil
}

// authsEntry finds host in "auths": an exact key first, then any key that
// normalizes to the same host (docker accepts "https://host/v1/" and the like).
func (k *Keychain) authsEntry(host string) (authEntry, string, bool) {
	for _, key := range []string{host, helperServerURL(host)} {
		if e, ok := k.config.Auths[key]; ok && !e.empty() {
			return e, key, true
		}
	}
	for key, e := range k.config.Auths {
		if NormalizeHost(key) == host && !e.empty() {
			return e, key, true
		}
	}
	return authEntry{}, "", false
}

func (e authEntry) empty() bool {
	return e.Auth == "" && e.Username == "" && e.Password == "" && e.IdentityToken == "" && e.RegistryToken == ""
}

func (e authEntry) authenticator() (authn.Authenticator, error) {
	c := authn.AuthConfig{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
	if e.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return nil, errors.New(`"auth" is not base64`)
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, errors.New(`"auth" does not decode to user:password`)
		}
		c.Username, c.Password = user, pass
	}
	return authn.FromConfig(c), nil
}

// helperNotFound is what docker-credential-helpers print when they hold
// nothing for a server.
const helperNotFound = "credentials not found in native keychain"

func (k *Keychain) fromHelper(ctx context.Context, name, host string) (authn.Authenticator, string, error) {
	bin := "docker-credential-" + name
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "get")
	cmd.Stdin = strings.NewReader(helperServerURL(host))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			// Not found on PATH, timed out, not executable.
			return nil, "", fmt.Errorf("running %s for %s: %w", bin, host, err)
		}
		return helperAnswer(stdout.Bytes(), stderr.Bytes(), exitErr, bin, host)
	}
	return helperAnswer(stdout.Bytes(), nil, nil, bin, host)
}

// helperAnswer reads what a credential helper printed; failed is its exit
// error, if any. Errors never quote output that may hold the secret.
func helperAnswer(stdout, stderr []byte, failed error, bin, host string) (authn.Authenticator, string, error) {
	source := "credential helper " + bin
	if failed != nil {
		// The protocol puts an error message on stdout, but a broken
		// helper may print the secret there or on stderr: neither is
		// quoted, only recognised.
		if strings.Contains(string(stdout), helperNotFound) {
			return authn.Anonymous, "anonymous (" + source + " has no credentials for " + host + ")", nil
		}
		return nil, "", fmt.Errorf("%s get for %s failed (%v); its output is not shown, as it may hold a secret: run `echo %s | %s get` to see it", bin, host, failed, host, bin)
	}
	var out struct {
		Username string
		Secret   string
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		// The output may contain the secret: do not quote it.
		return nil, "", fmt.Errorf("%s get for %s printed something other than {\"Username\": ..., \"Secret\": ...}", bin, host)
	}
	if out.Username == "" && out.Secret == "" {
		return authn.Anonymous, "anonymous (" + source + " has no credentials for " + host + ")", nil
	}
	if out.Username == "<token>" {
		return authn.FromConfig(authn.AuthConfig{IdentityToken: out.Secret}), source, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: out.Username, Password: out.Secret}), source, nil
}

// NormalizeHost reduces a registry name or config key ("https://host/v1/",
// "http://host:5000", "docker.io") to the host[:port] docker matches on;
// every Docker Hub alias becomes "index.docker.io".
func NormalizeHost(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	s, _, _ = strings.Cut(s, "/")
	s = strings.ToLower(s)
	switch s {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "index.docker.io"
	}
	return s
}

// helperServerURL is what docker passes a credential helper: Docker Hub's
// legacy v1 URL, otherwise the bare host.
func helperServerURL(host string) string {
	if host == "index.docker.io" {
		return dockerHubKey
	}
	return host
}

// fromBazelHelper asks a Bazel credential helper for host's Authorization
// header: "Basic BASE64(user:password)" or "Bearer TOKEN" (a registry token,
// sent as it is). It returns nil when the helper has none for host.
func fromBazelHelper(ctx context.Context, h *credhelper.Helper, host string) (authn.Authenticator, error) {
	headers, err := h.Headers(ctx, "https://"+host)
	if err != nil {
		return nil, err
	}
	var value string
	for name, values := range headers {
		if strings.EqualFold(name, "Authorization") && len(values) > 0 {
			value = values[0]
		}
	}
	if value == "" {
		return nil, nil
	}
	scheme, cred, _ := strings.Cut(value, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		user, password, ok := strings.Cut(string(b), ":")
		if err != nil || !ok {
			return nil, fmt.Errorf("Bazel credential helper %s: its Basic Authorization header for %s is not base64 of user:password", h, host)
		}
		return authn.FromConfig(authn.AuthConfig{Username: user, Password: password}), nil
	case "bearer":
		return authn.FromConfig(authn.AuthConfig{RegistryToken: strings.TrimSpace(cred)}), nil
	}
	return nil, fmt.Errorf("Bazel credential helper %s: its Authorization header for %s is neither Basic nor Bearer", h, host)
}
