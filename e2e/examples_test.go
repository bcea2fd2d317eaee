//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// The migration guides' examples build as they are, push to Distribution
// and run in containerd.
func TestMigrationExamples(t *testing.T) {
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	for _, ex := range []struct {
		dir, repository string
		pushArgs        func(reg string) []string
		want            string // what the image prints
		rootType        string // media type of what the push tagged
	}{
		{"rules_oci", "examples/hello", func(reg string) []string { return []string{"--repository", reg + "/examples/hello"} },
			"hello from the rules_oci door on linux/amd64 (oci_image)", "application/vnd.oci.image.index.v1+json"},
		{"rules_docker", "examples/hello-docker", func(reg string) []string { return []string{"--registry", reg} },
			"hello from the rules_docker door on linux/amd64 (container_image)", "application/vnd.docker.distribution.manifest.v2+json"},
	} {
		t.Run(ex.dir, func(t *testing.T) {
			b := &harness.Bazel{Workspace: filepath.Join(harness.RepoRoot(), "examples", ex.dir)}
			defer b.Shutdown()
			if _, err := b.Must("build", "//..."); err != nil {
				t.Fatal(err)
			}
			if _, err := bazelRun(t, b, "//:push", nil, ex.pushArgs(reg.Addr())...); err != nil {
				t.Fatal(err)
			}
			raw, _, err := harness.RawManifest(reg.Addr(), ex.repository, "latest")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), `"mediaType":"`+ex.rootType+`"`) {
				t.Errorf("%s:latest is not %s:\n%s", ex.repository, ex.rootType, raw)
			}
			if out := pullAndRun(t, ctrd, reg.Addr()+"/"+ex.repository+":latest", "example-"+ex.dir); strings.TrimSpace(out) != ex.want {
				t.Errorf("%s printed %q, want %q", ex.repository, out, ex.want)
			}
			if ex.dir == "rules_oci" {
				transitionedImage(t, b, reg, ctrd)
			}
		})
	}
}

// transitionedImage pushes and loads aspect_bazel_lib's
// platform_transition_filegroup of an oci_image, as rules_oci's docs write
// it: the filegroup passes on only files, and the image is found behind it,
// built for the filegroup's platform.
func transitionedImage(t *testing.T, b *harness.Bazel, reg *harness.Registry, ctrd *harness.Containerd) {
	t.Helper()
	if _, err := bazelRun(t, b, "//:push_transitioned", nil, "--repository", reg.Addr()+"/examples/hello-transitioned"); err != nil {
		t.Fatal(err)
	}
	want := "hello from the rules_oci door on linux/amd64 (oci_image)"
	if out := pullAndRun(t, ctrd, reg.Addr()+"/examples/hello-transitioned:latest", "example-transitioned"); strings.TrimSpace(out) != want {
		t.Errorf("the transitioned image printed %q, want %q", out, want)
	}
	lb := &harness.Bazel{Workspace: b.Workspace, Env: []string{"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace}}
	if _, err := bazelRun(t, lb, "//:load_transitioned", nil); err != nil {
		t.Fatal(err)
	}
	if out, err := ctrd.Run("docker.io/library/hello-transitioned:latest", "example-transitioned-load"); err != nil || strings.TrimSpace(out) != want {
		t.Errorf("the loaded transitioned image: %v %q", err, out)
	}
	// Another CPU than the machine's: the transition decides the platform.
	if _, err := bazelRun(t, b, "//:push_arm64", nil, "--repository", reg.Addr()+"/examples/hello-arm64"); err != nil {
		t.Fatal(err)
	}
	cfg, err := harness.Crane("config", reg.Addr()+"/examples/hello-arm64:latest")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), `"architecture":"arm64"`) {
		t.Errorf("the arm64 filegroup pushed a config for another platform: %s", cfg)
	}
}
