package reference

import (
	"strings"
	"testing"
)

func TestNormalizeTag(t *testing.T) {
	for in, want := range map[string]string{
		"hello":                         "docker.io/library/hello:latest",
		"hello:v1":                      "docker.io/library/hello:v1",
		"team/app:dev":                  "docker.io/team/app:dev",
		"docker.io/hello:1":             "docker.io/library/hello:1",
		"index.docker.io/library/x:y":   "docker.io/library/x:y",
		"registry.example/app:dev":      "registry.example/app:dev",
		"localhost/app":                 "localhost/app:latest",
		"localhost:5000/a/b/c:1.2.3-rc": "localhost:5000/a/b/c:1.2.3-rc",
		"[::1]:5000/app:v":              "[::1]:5000/app:v",
		"ghcr.io/o/r__x.y-z:T_1":        "ghcr.io/o/r__x.y-z:T_1",
	} {
		got, err := NormalizeTag(in)
		if err != nil || got != want {
			t.Errorf("NormalizeTag(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Hello:v1", "hello:", "hello@sha256:" + "00", "a//b", "app:bad/tag", "-x:1", "hello:.v", strings.Repeat("ab", 32)} {
		if got, err := NormalizeTag(bad); err == nil {
			t.Errorf("NormalizeTag(%q) = %q, want an error", bad, got)
		}
	}
}

func TestNormalizeTagsDeduplicates(t *testing.T) {
	got, err := NormalizeTags([]string{"hello:v1", "docker.io/library/hello:v1", "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "docker.io/library/hello:v1" || got[1] != "docker.io/library/hello:latest" {
		t.Errorf("normalizeTags = %q", got)
	}
}

func TestCheckRepositoryAndTag(t *testing.T) {
	for _, ok := range []string{"a", "team/app", "a/b/c", "r__x.y-z", "x--y"} {
		if err := CheckRepository(ok); err != nil {
			t.Errorf("CheckRepository(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Team/app", "a//b", "/a", "a/", "a..b", "-a", strings.Repeat("a", MaxRepositoryLen+1)} {
		if err := CheckRepository(bad); err == nil {
			t.Errorf("CheckRepository(%q) passed", bad)
		}
	}
	for _, ok := range []string{"v1", "_x", "V1.2-rc_3", strings.Repeat("t", 128)} {
		if err := CheckTag(ok); err != nil {
			t.Errorf("CheckTag(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".x", "-x", "a:b", "a/b", strings.Repeat("t", 129)} {
		if err := CheckTag(bad); err == nil {
			t.Errorf("CheckTag(%q) passed", bad)
		}
	}
}
