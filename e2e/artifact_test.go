//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

func oras(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("oras", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("oras %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// image_manifest with artifact_type and config_media_type makes OCI
// artifacts that CNCF Distribution accepts and oras reads back: an SBOM with
// the empty config, and a chart whose config blob is its own file.
func TestArtifacts(t *testing.T) {
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	for _, target := range []string{"//artifact:push_sbom", "//artifact:push_chart", "//artifact:push_docs"} {
		if _, err := bazelRun(t, ws, target, nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
	}

	var sbom struct {
		ArtifactType string     `json:"artifactType"`
		Config       descriptor `json:"config"`
	}
	raw := oras(t, "manifest", "fetch", "--plain-http", reg.Addr()+"/artifact/sbom:v1")
	if err := json.Unmarshal([]byte(raw), &sbom); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if sbom.ArtifactType != "application/spdx+json" || sbom.Config.MediaType != "application/vnd.oci.empty.v1+json" || !strings.Contains(raw, `"data":"e30="`) {
		t.Errorf("sbom manifest: %s", raw)
	}
	// oras pull writes each layer under its title, byte for byte.
	out := t.TempDir()
	oras(t, "pull", "--plain-http", "-o", out, reg.Addr()+"/artifact/sbom:v1")
	got, err := os.ReadFile(filepath.Join(out, "sbom.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(filepath.Join(ws.Workspace, "artifact", "sbom.spdx.json")); string(got) != string(want) {
		t.Errorf("oras pulled %q, want the file %q", got, want)
	}

	// oras_layer: oras pull unpacks it into a directory named by its title,
	// after checking the tar against io.deis.oras.content.digest.
	docs := t.TempDir()
	oras(t, "pull", "--plain-http", "-o", docs, reg.Addr()+"/artifact/docs:v1")
	for file, src := range map[string]string{"docs/readme.txt": "Chart.yaml", "docs/sub/sbom.json": "sbom.spdx.json"} {
		got, err := os.ReadFile(filepath.Join(docs, file))
		want, _ := os.ReadFile(filepath.Join(ws.Workspace, "artifact", src))
		if err != nil || string(got) != string(want) {
			t.Errorf("oras pull of the oras_layer: %s = %q (%v), want %s's bytes", file, got, err, src)
		}
	}

	config := oras(t, "manifest", "fetch-config", "--plain-http", reg.Addr()+"/artifact/chart:v1")
	if want, _ := os.ReadFile(filepath.Join(ws.Workspace, "artifact", "chart_config.json")); config != string(want) {
		t.Errorf("chart config blob is %q, want chart_config.json byte for byte: %q", config, want)
	}
	raw = oras(t, "manifest", "fetch", "--plain-http", reg.Addr()+"/artifact/chart:v1")
	if !strings.Contains(raw, `"mediaType":"application/vnd.cncf.helm.config.v1+json"`) {
		t.Errorf("chart manifest: %s", raw)
	}
}
