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
		})
	}
}
