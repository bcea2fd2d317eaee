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
	for _, ex := range []struct{ dir, push, repository, want string }{
		{"rules_oci", "//:push", "examples/hello", "hello from the rules_oci door on linux/amd64 (oci_image)"},
	} {
		t.Run(ex.dir, func(t *testing.T) {
			b := &harness.Bazel{Workspace: filepath.Join(harness.RepoRoot(), "examples", ex.dir)}
			defer b.Shutdown()
			if _, err := b.Must("build", "//..."); err != nil {
				t.Fatal(err)
			}
			if _, err := bazelRun(t, b, ex.push, nil, "--repository", reg.Addr()+"/"+ex.repository); err != nil {
				t.Fatal(err)
			}
			raw, _, err := harness.RawManifest(reg.Addr(), ex.repository, "latest")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), `"architecture":"arm64"`) || !strings.Contains(string(raw), `"architecture":"amd64"`) {
				t.Errorf("%s: the pushed index is not for amd64 and arm64:\n%s", ex.repository, raw)
			}
			if out := pullAndRun(t, ctrd, reg.Addr()+"/"+ex.repository+":latest", "example-"+ex.dir); strings.TrimSpace(out) != ex.want {
				t.Errorf("%s printed %q, want %q", ex.repository, out, ex.want)
			}
		})
	}
}
