package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestExpandParams(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.params")
	// As Bazel writes the "shell" format: safe words bare, others quoted.
	content := "layout\n--out\nbazel-out/k8-fastbuild/bin/app/image_oci_layout\n" +
		"--annotation\n'org.opencontainers.image.title=it'\\''s \"mine\"'\n" +
		"''\n'two\nlines'\n--blob\n'a b/c.tar'\n"
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := expandParams([]string{"@" + p, "--extra"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"layout", "--out", "bazel-out/k8-fastbuild/bin/app/image_oci_layout",
		"--annotation", `org.opencontainers.image.title=it's "mine"`, "", "two\nlines", "--blob", "a b/c.tar", "--extra"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	plain := []string{"layer", "--out", "@not-a-param-file"}
	if got, _ := expandParams(plain); !slices.Equal(got, plain) {
		t.Errorf("expanded a command line that does not start with @: %q", got)
	}
	if _, err := expandParams([]string{"@" + filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing parameter file: no error")
	}
	if err := os.WriteFile(p, []byte("'open"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := expandParams([]string{"@" + p}); err == nil {
		t.Error("unterminated quote: no error")
	}
}
