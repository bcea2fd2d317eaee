package harness

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialHelper(t *testing.T) {
	dir, err := WriteCredentialHelper(t.TempDir(), "e2e", "127.0.0.1:5000", "u", `p'"w`)
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string) (string, error) {
		cmd := exec.Command(filepath.Join(dir, "docker-credential-e2e"), "get")
		cmd.Stdin = strings.NewReader(url + "\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, url := range []string{"127.0.0.1:5000", "http://127.0.0.1:5000", "https://127.0.0.1:5000/v2/"} {
		out, err := get(url)
		if err != nil {
			t.Fatalf("get %s: %v\n%s", url, err, out)
		}
		var creds struct{ ServerURL, Username, Secret string }
		if err := json.Unmarshal([]byte(out), &creds); err != nil {
			t.Fatalf("get %s printed %q: %v", url, out, err)
		}
		if creds.Username != "u" || creds.Secret != `p'"w` || creds.ServerURL != "127.0.0.1:5000" {
			t.Errorf("get %s = %+v", url, creds)
		}
	}
	for _, url := range []string{"127.0.0.1:5001", "example.com", ""} {
		out, err := get(url)
		if err == nil || strings.TrimSpace(out) != "credentials not found in native keychain" {
			t.Errorf("get %q: %v %q, want exit 1 and not found", url, err, out)
		}
	}
}

func TestWriteDockerConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "docker", "config.json")
	if err := WriteDockerConfig(path, "127.0.0.1:5000", "u", "p"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Auths["127.0.0.1:5000"].Auth; got != base64.StdEncoding.EncodeToString([]byte("u:p")) {
		t.Errorf("auth = %q in %s", got, b)
	}
}
