package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/rules-img/rules_img/pkg/internal/leaktest"
)

// FuzzDockerConfig: a user's config.json, read before any network traffic.
// Errors never quote the file: it holds passwords.
func FuzzDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths": {"r.example": {"auth": "dTpzM2NyM3Q="}}}`))
	f.Add([]byte(`{"auths": {"https://index.docker.io/v1/": {"username": "u", "password": "s3cr3t"}}, "credHelpers": {"x": "y/z"}}`))
	f.Add([]byte(`{"auths": {"r.example": {"identitytoken": "s3cr3t"}}}`))
	f.Add([]byte(`{"auths": {"r.example": {"auth": "s3cr3t"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "config.json")
		os.WriteFile(p, b, 0o644)
		// Every credential the fuzzer wrote, not only the seeded one.
		secrets := append(leaktest.Secrets(b, "auth", "password", "identitytoken", "registrytoken"), "s3cr3t")
		k, err := New(Options{DockerConfig: p})
		if err != nil {
			if s := leaktest.Quoted(err.Error(), secrets); s != "" {
				t.Fatalf("error quotes the config's %q: %v", s, err)
			}
			return
		}
		for _, host := range []string{"r.example", "index.docker.io"} {
			reg, _ := name.NewRegistry(host)
			// Only entries from the file: a credsStore or credHelpers entry
			// would run a helper binary, which is not what this tests.
			if k.config.CredsStore != "" || len(k.config.CredHelpers) > 0 {
				return
			}
			if _, err := k.Resolve(reg); err != nil && leaktest.Quoted(err.Error(), secrets) != "" {
				t.Fatalf("error quotes the config: %v", err)
			}
		}
	})
}

// FuzzHelperAnswer: what a docker credential helper printed, with and
// without a failed exit. No error quotes a secret.
func FuzzHelperAnswer(f *testing.F) {
	f.Add([]byte(`{"Username": "u", "Secret": "s3cr3t"}`), []byte(""), false)
	f.Add([]byte(`{"Username": "<token>", "Secret": "s3cr3t"}`), []byte(""), false)
	f.Add([]byte(`credentials not found in native keychain`), []byte(""), true)
	f.Add([]byte(`{"Username": "u", "Secret": "s3cr3t"}`), []byte("boom"), true)
	f.Add([]byte("\x1b[31ms3cr3t"), []byte(""), true)
	f.Fuzz(func(t *testing.T, stdout, stderr []byte, failed bool) {
		var exit error
		if failed {
			exit = errors.New("exit status 1")
		}
		a, _, err := helperAnswer(stdout, stderr, exit, "docker-credential-x", "r.example")
		if err != nil {
			msg := err.Error()
			// What a failed helper's error may quote: stdout, else stderr.
			quoted := strings.TrimSpace(string(stdout))
			if quoted == "" {
				quoted = strings.TrimSpace(string(stderr))
			}
			q := strings.ToLower(quoted)
			if strings.Contains(msg, "s3cr3t") && (strings.Contains(q, "secret") || strings.Contains(q, "{")) {
				t.Fatalf("error quotes what may be a secret: %q", msg)
			}
			if s := leaktest.Quoted(msg, leaktest.Secrets(stdout, "secret")); s != "" {
				t.Fatalf("error quotes the helper's secret %q: %q", s, msg)
			}
			if strings.ContainsAny(msg, "\n\x1b") {
				t.Fatalf("error is not one printable line: %q", msg)
			}
			return
		}
		if a == nil {
			t.Fatal("no authenticator and no error")
		}
		if a != authn.Anonymous {
			if _, err := a.Authorization(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
