//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input fails the build with a message naming the target, the attribute
// or path at fault and the fix, and leaves no layer or manifest behind.
func TestBadInputFails(t *testing.T) {
	cases := []struct {
		target  string
		flags   []string
		want    []string
		outputs []string // must not exist in bazel-bin afterwards
	}{
		{
			target:  "//bad:duplicate_path",
			want:    []string{"//bad:duplicate_path", "two sources for /etc/greeting.txt", "remove one"},
			outputs: []string{"bad/duplicate_path.tar.gz", "bad/duplicate_path.layer.json"},
		},
		{
			target: "//bad:dotdot_path",
			want:   []string{"//bad:dotdot_path", "srcs", `"/app/../etc/passwd"`, "'..'"},
		},
		{
			target: "//bad:bad_metadata",
			want:   []string{"//bad:bad_metadata", `file_metadata["/etc/greeting.txt"]`, "file_metadata(mode ="},
		},
		{
			target:  "//bad:bad_mode",
			want:    []string{"//bad:bad_mode", `bad mode "rwx"`, `like "0755"`},
			outputs: []string{"bad/bad_mode.tar.gz", "bad/bad_mode.layer.json"},
		},
		{
			target: "//bad_compress:unknown_compression",
			want:   []string{"//bad_compress:unknown_compression", "'compress' attribute", "'gzip'", "'brotli'"},
		},
		{
			target:  "//bad:unknown_platform",
			want:    []string{"//bad:unknown_platform", `unknown platform "linux/mips128"`, "linux/arm64"},
			outputs: []string{"bad/unknown_platform.manifest.json", "bad/unknown_platform.config.json"},
		},
		{
			target: "//bad:platform_without_cpu",
			flags:  []string{"--platforms=//platforms:linux_nocpu"},
			want:   []string{"//bad:platform_without_cpu", "cannot tell the image platform", "@platforms//cpu:aarch64", `platform = "linux/amd64"`},
		},
	}
	bin, err := ws.Info("bazel-bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(strings.TrimPrefix(c.target, "//"), func(t *testing.T) {
			r := ws.Run(append([]string{"build", c.target}, c.flags...)...)
			if r.Err == nil {
				t.Fatalf("bazel build %s succeeded; want a failure", c.target)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("error output lacks %q:\n%s", w, r.Stderr)
				}
			}
			for _, o := range c.outputs {
				if _, err := os.Stat(filepath.Join(bin, o)); err == nil {
					t.Errorf("failed build left %s behind", o)
				}
			}
		})
	}
}
