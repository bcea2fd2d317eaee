// Package harness runs real Bazel in workspaces under e2e/ and examples/, and
// starts the real peers (containerd, registries) the tests check images with.
// Every peer runs on temp dirs and sockets and is stopped by PID.
package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RepoRoot returns the rules_img checkout this file belongs to.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Bazel runs bazel in one workspace, optionally with its own output base.
type Bazel struct {
	Workspace  string   // absolute path of the workspace root
	OutputBase string   // empty: Bazel's default for the workspace
	Startup    []string // extra startup flags
	Env        []string // extra KEY=VALUE for the client, and so for `bazel run` targets
	// FromSource keeps the workspace's own rules_img (the checkout, which
	// builds img from source) where UseRelease would swap in the release.
	FromSource bool
}

// Result is what one bazel invocation printed.
type Result struct {
	Stdout, Stderr string
	Err            error
}

func (b *Bazel) args(args []string) []string {
	var all []string
	if b.OutputBase != "" {
		all = append(all, "--output_base="+b.OutputBase)
	}
	if useRelease != nil && !b.FromSource {
		all = append(all, "--bazelrc="+useRelease.rc)
	}
	all = append(all, b.Startup...)
	return append(all, args...)
}

// Run runs `bazel ARGS...` and returns its output whatever the exit status.
func (b *Bazel) Run(args ...string) Result {
	cmd := exec.Command("bazel", b.args(args)...)
	cmd.Dir = b.Workspace
	if len(b.Env) > 0 {
		cmd.Env = append(os.Environ(), b.Env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// Must runs bazel and returns stdout, or an error carrying the tail of stderr.
func (b *Bazel) Must(args ...string) (string, error) {
	r := b.Run(args...)
	if r.Err != nil {
		return r.Stdout, fmt.Errorf("bazel %s in %s: %v\n%s", strings.Join(args, " "), b.Workspace, r.Err, tail(r.Stderr, 60))
	}
	return r.Stdout, nil
}

// Info returns one `bazel info` key, e.g. bazel-bin or execution_root.
func (b *Bazel) Info(key string, flags ...string) (string, error) {
	out, err := b.Must(append([]string{"info", key}, flags...)...)
	return strings.TrimSpace(out), err
}

// Shutdown stops the workspace's Bazel server.
func (b *Bazel) Shutdown() { b.Run("shutdown") }

// OutputFiles returns the files a target's output group holds, as absolute
// paths, via cquery (so transitions and configurations are resolved by Bazel).
func (b *Bazel) OutputFiles(target, outputGroup string, flags ...string) ([]string, error) {
	// config(..., target): only the top-level instance, not the ones a
	// transition (such as image_index's) configured in the same server.
	args := append([]string{"cquery", "config(" + target + ", target)", "--output=files"}, flags...)
	if outputGroup != "" {
		args = append(args, "--output_groups="+outputGroup)
	}
	out, err := b.Must(args...)
	if err != nil {
		return nil, err
	}
	execRoot, err := b.Info("execution_root", flags...)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			files = append(files, filepath.Join(execRoot, line))
		}
	}
	return files, nil
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// TempDir makes a directory outside /tmp (Bazel's sandbox hides /tmp, and
// output bases under it behave differently).
func TempDir(prefix string) (string, error) { return os.MkdirTemp("/var/tmp", prefix) }
