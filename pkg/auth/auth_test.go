package auth

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// fakeHelper installs docker-credential-NAME on PATH. It records the server
// URL it was asked for in DIR/NAME.asked and answers from the script body.
func fakeHelper(t *testing.T, dir, name, body string) string {
	t.Helper()
	asked := filepath.Join(dir, name+".asked")
	script := "#!/bin/sh\n[ \"$1\" = get ] || exit 3\ncat > " + asked + "\n" + body + "\n"
	writeFile(t, filepath.Join(dir, "docker-credential-"+name), script, 0o755)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return asked
}

func resolve(t *testing.T, k *Keychain, registry string) *authn.AuthConfig {
	t.Helper()
	reg, err := name.NewRegistry(registry)
	if err != nil {
		t.Fatal(err)
	}
	a, err := k.Resolve(reg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestConfigAuths(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	writeFile(t, cfg, `{"auths": {
		"https://index.docker.io/v1/": {"auth": "`+b64("hub:hubpw")+`"},
		"http://127.0.0.1:5000": {"username": "u", "password": "p"},
		"ghcr.io": {"identitytoken": "tok"},
		"https://example.com/v2/": {"auth": "`+b64("ex:expw")+`"}
	}}`, 0o600)
	k, err := New(Options{DockerConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		registry string
		want     authn.AuthConfig
	}{
		{"index.docker.io", authn.AuthConfig{Username: "hub", Password: "hubpw"}},
		{"docker.io", authn.AuthConfig{Username: "hub", Password: "hubpw"}},
		{"127.0.0.1:5000", authn.AuthConfig{Username: "u", Password: "p"}},
		{"ghcr.io", authn.AuthConfig{IdentityToken: "tok"}},
		{"example.com", authn.AuthConfig{Username: "ex", Password: "expw"}},
		{"127.0.0.1:5001", authn.AuthConfig{}}, // port is part of the host
		{"quay.io", authn.AuthConfig{}},
	} {
		if got := resolve(t, k, tc.registry); *got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.registry, *got, tc.want)
		}
	}
	if s := k.Source("127.0.0.1:5000"); !strings.Contains(s, "auths entry") || strings.Contains(s, "p\"") {
		t.Errorf("Source = %q", s)
	}
}

func TestDefaultConfigLocations(t *testing.T) {
	home, dcfg := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(home, ".docker"), 0o755)
	writeFile(t, filepath.Join(home, ".docker", "config.json"), `{"auths":{"r.example":{"username":"home","password":"x"}}}`, 0o600)
	writeFile(t, filepath.Join(dcfg, "config.json"), `{"auths":{"r.example":{"username":"env","password":"x"}}}`, 0o600)

	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", "")
	k, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, k, "r.example"); got.Username != "home" {
		t.Errorf("HOME config: got %q", got.Username)
	}

	t.Setenv("DOCKER_CONFIG", dcfg)
	k, _ = New(Options{})
	if got := resolve(t, k, "r.example"); got.Username != "env" {
		t.Errorf("DOCKER_CONFIG config: got %q", got.Username)
	}

	// A missing default config is anonymous; a missing explicit one an error.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	k, err = New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, k, "r.example"); *got != (authn.AuthConfig{}) {
		t.Errorf("no config: got %+v", got)
	}
	if _, err := New(Options{DockerConfig: filepath.Join(dcfg, "nope.json")}); err == nil {
		t.Error("missing explicit config: no error")
	}
	// A directory is taken to hold config.json.
	k, _ = New(Options{DockerConfig: dcfg})
	if got := resolve(t, k, "r.example"); got.Username != "env" {
		t.Errorf("config dir: got %q", got.Username)
	}
}

func TestConfigHelpers(t *testing.T) {
	dir := t.TempDir()
	askedA := fakeHelper(t, dir, "a", `echo '{"ServerURL":"x","Username":"alice","Secret":"s3cret"}'`)
	askedStore := fakeHelper(t, dir, "store", `echo '{"Username":"<token>","Secret":"idtok"}'`)
	fakeHelper(t, dir, "empty", `echo "credentials not found in native keychain"; exit 1`)
	cfg := filepath.Join(dir, "config.json")
	writeFile(t, cfg, `{
		"credsStore": "store",
		"credHelpers": {"reg-a.example:5000": "a", "https://index.docker.io/v1/": "a", "fallback.example": "empty"},
		"auths": {"fallback.example": {"auth": "`+b64("fb:fbpw")+`"}}
	}`, 0o600)
	k, err := New(Options{DockerConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if got := resolve(t, k, "reg-a.example:5000"); got.Username != "alice" || got.Password != "s3cret" {
		t.Errorf("credHelpers: got %+v", got)
	}
	if b, _ := os.ReadFile(askedA); string(b) != "reg-a.example:5000" {
		t.Errorf("helper asked for %q", b)
	}
	if got := resolve(t, k, "index.docker.io"); got.Username != "alice" {
		t.Errorf("hub via credHelpers: got %+v", got)
	}
	if b, _ := os.ReadFile(askedA); string(b) != "https://index.docker.io/v1/" {
		t.Errorf("helper asked for %q for Docker Hub", b)
	}
	if got := resolve(t, k, "other.example"); got.IdentityToken != "idtok" || got.Username != "" {
		t.Errorf("credsStore: got %+v", got)
	}
	if b, _ := os.ReadFile(askedStore); string(b) != "other.example" {
		t.Errorf("store asked for %q", b)
	}
	if got := resolve(t, k, "fallback.example"); got.Username != "fb" {
		t.Errorf("helper without creds should fall back to auths: got %+v", got)
	}
}

func TestExplicitHelperOverridesConfig(t *testing.T) {
	dir := t.TempDir()
	fakeHelper(t, dir, "e2etest", `echo '{"Username":"helper","Secret":"hs"}'`)
	cfg := filepath.Join(dir, "config.json")
	writeFile(t, cfg, `{"auths":{"r.example":{"username":"cfg","password":"x"}}}`, 0o600)
	k, err := New(Options{DockerConfig: cfg, CredentialHelper: "e2etest"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"r.example", "127.0.0.1:5000"} {
		if got := resolve(t, k, r); got.Username != "helper" || got.Password != "hs" {
			t.Errorf("%s: got %+v", r, got)
		}
	}
	if s := k.Source("r.example"); s != "credential helper docker-credential-e2etest" {
		t.Errorf("Source = %q", s)
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	dir := t.TempDir()
	// Unparseable output that contains the secret.
	fakeHelper(t, dir, "leaky", `echo 'Username=bob Secret=TOPSECRET'`)
	k, _ := New(Options{CredentialHelper: "leaky"})
	reg, _ := name.NewRegistry("r.example")
	_, err := k.Resolve(reg)
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("err = %v", err)
	}

	// A failing helper that prints a bare token (or user:password) on
	// either stream: only its exit status and a fixed hint are shown.
	fakeHelper(t, dir, "broken", `echo "ghp_3f9a1c"; echo "bob:ghp_3f9a1c" >&2; exit 1`)
	k, _ = New(Options{CredentialHelper: "broken"})
	if _, err := k.Resolve(reg); err == nil || strings.Contains(err.Error(), "ghp_3f9a1c") || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("err = %v", err)
	}

	k, _ = New(Options{CredentialHelper: "does-not-exist-anywhere"})
	if _, err := k.Resolve(reg); err == nil || !strings.Contains(err.Error(), "docker-credential-does-not-exist-anywhere") {
		t.Errorf("err = %v", err)
	}

	cfg := filepath.Join(dir, "bad.json")
	writeFile(t, cfg, `{"auths":{"r.example":{"auth":"TOPSECRET!!"}}}`, 0o600)
	k, _ = New(Options{DockerConfig: cfg})
	if _, err := k.Resolve(reg); err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("err = %v", err)
	}
	writeFile(t, cfg, `{"auths":{"r.example":{"auth":"TOPSECRET"`, 0o600)
	if _, err := New(Options{DockerConfig: cfg}); err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("err = %v", err)
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://index.docker.io/v1/": "index.docker.io",
		"docker.io":                   "index.docker.io",
		"registry-1.docker.io":        "index.docker.io",
		"http://127.0.0.1:5000":       "127.0.0.1:5000",
		"Example.COM/v2/":             "example.com",
		"localhost:5000":              "localhost:5000",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// A Bazel credential helper scoped to registries answers first; with no
// Authorization header for a host, the docker config decides.
func TestBazelHelperForRegistries(t *testing.T) {
	dir := t.TempDir()
	helper := filepath.Join(dir, "bazel-helper")
	basic := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	writeFile(t, helper, `#!/bin/sh
[ "$1" = get ] || exit 3
uri=$(cat)
case "$uri" in
*'"https://basic.example"'*) echo '{"headers":{"Authorization":["Basic `+basic+`"]}}' ;;
*'"https://token.example"'*) echo '{"headers":{"authorization":["Bearer tok3n"]}}' ;;
*'"https://odd.example"'*) echo '{"headers":{"Authorization":["Digest s3cret"]}}' ;;
*) echo '{"headers":{}}' ;;
esac
`, 0o755)
	config := filepath.Join(dir, "config.json")
	writeFile(t, config, `{"auths":{"other.example":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("bob:pw"))+`"}}}`, 0o600)
	k, err := New(Options{DockerConfig: config, BazelHelper: helper})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]authn.AuthConfig{
		"basic.example": {Username: "alice", Password: "s3cret"},
		"token.example": {RegistryToken: "tok3n"},
		"other.example": {Username: "bob", Password: "pw"},
	} {
		got := resolve(t, k, host)
		if got.Username != want.Username || got.Password != want.Password || got.RegistryToken != want.RegistryToken {
			t.Errorf("%s: got %+v, want %+v", host, got, want)
		}
	}
	reg, _ := name.NewRegistry("odd.example")
	_, err = k.Resolve(reg)
	if err == nil || !strings.Contains(err.Error(), "neither Basic nor Bearer") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("odd header: %v", err)
	}
	if _, err := New(Options{BazelHelper: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing helper should be an error")
	}
}
