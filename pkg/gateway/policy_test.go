package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMatchGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"team-a/**", "team-a", true},
		{"team-a/**", "team-a/x/y", true},
		{"team-a/**", "team-ab", false},
		{"**", "a/b/c", true},
		{"library/*", "library/ubuntu", true},
		{"library/*", "library/a/b", false},
		{"a/?", "a/b", true},
		{"a/?", "a/bc", false},
		{"secret", "secret", true},
		{"secret", "secrets", false},
		{"a/**/z", "a/z", true},
		{"a/**/z", "a/b/c/z", true},
		{"a/**/z", "a/b/c/y", false},
	} {
		if got := matchGlob(c.pattern, c.path); got != c.want {
			t.Errorf("matchGlob(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{{"*.docker.io", "index.docker.io", true}, {"*.docker.io", "docker.io", false}, {"*", "x", true}, {"ghcr.io", "ghcr.io", true}, {"ghcr.io", "gcr.io", false}} {
		if got := matchRegistry(c.pattern, c.host); got != c.want {
			t.Errorf("matchRegistry(%q, %q) = %v", c.pattern, c.host, got)
		}
	}
}

func TestPolicyFirstMatchWins(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.json")
	os.WriteFile(path, []byte(`{"version": 1, "rules": [
		{"action": "deny", "registry": "r.example", "repository": "team/secret", "operations": ["*"]},
		{"action": "allow", "registry": "r.example", "repository": "team/**", "operations": ["blob:read", "blob:write", "manifest:read", "manifest:write"]},
		{"action": "allow", "registry": "*.example", "repository": "**", "operations": ["blob:read", "manifest:read"]}
	]}`), 0o644)
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		registry, repo, op string
		want               bool
	}{
		{"r.example", "team/secret", BlobRead, false},
		{"r.example", "team/app", ManifestWrite, true},
		{"r.example", "other/app", ManifestWrite, false},
		{"r.example", "other/app", BlobRead, true},
		{"elsewhere.io", "team/app", BlobRead, false},
	} {
		if got, _ := p.Decide(c.registry, c.repo, c.op); got != c.want {
			t.Errorf("Decide(%s, %s, %s) = %v", c.registry, c.repo, c.op, got)
		}
	}
	for content, want := range map[string]string{
		`{"version": 2}`: "version 2",
		`{"version": 1, "rules": [{"action": "maybe", "registry": "x", "repository": "y", "operations": ["*"]}]}`:           `action "maybe"`,
		`{"version": 1, "rules": [{"action": "allow", "registry": "x", "repository": "y", "operations": ["blob:delete"]}]}`: `operation "blob:delete"`,
		`{"version": 1, "rules": [{"action": "allow", "registry": "a.*.b", "repository": "y", "operations": ["*"]}]}`:       `registry "a.*.b"`,
		`version: 1`:                 "write JSON",
		`{"version": 1, "rule": []}`: "unknown field",
	} {
		os.WriteFile(path, []byte(content), 0o644)
		if _, err := LoadPolicy(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("policy %s: error %v, want %q", content, err, want)
		}
	}
}
