//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
)

// The big two-platform base (//base:index) is pushed into a real registry
// with htpasswd auth through the counting proxy: the proxy sees the big
// layer go up once, the registry serves the index with both platforms, and
// only clients with credentials get in.
func TestSeedBaseIntoRegistry(t *testing.T) {
	reg, proxy := startProxiedRegistry(t, harness.RegistryOptions{User: "e2e", Password: "s3cret"})

	// Build first, so the seeding time below is the push alone.
	start := time.Now()
	layout, digest, err := harness.BaseLayout(ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("base built in %s: %s", time.Since(start).Round(time.Millisecond), layout)

	start = time.Now()
	got, err := harness.SeedBase(ws, proxy.Addr(), "e2e/base", "v1", reg.Creds())
	if err != nil {
		t.Fatalf("%v\nregistry log:\n%s", err, reg.Log())
	}
	t.Logf("seeded in %s (an up-to-date bazel build, the push, a check)", time.Since(start).Round(time.Millisecond))
	if got != digest {
		t.Errorf("SeedBase returned %s, want the layout's root %s", got, digest)
	}

	stats := proxy.Stats()
	t.Logf("through the proxy:\n%s", stats)
	const bigLayer = 512 << 20
	if stats.Blobs.BytesIn < bigLayer {
		t.Errorf("proxy counted %d blob bytes uploaded, want >= %d", stats.Blobs.BytesIn, bigLayer)
	}
	biggest := int64(0)
	for _, n := range stats.BlobBytesIn {
		biggest = max(biggest, n)
	}
	if biggest < bigLayer {
		t.Errorf("largest blob uploaded = %d bytes, want >= %d: %v", biggest, bigLayer, stats.BlobBytesIn)
	}
	// The two manifests share the big layer: it goes up once.
	if stats.Blobs.BytesIn > 2*bigLayer {
		t.Errorf("proxy counted %d blob bytes uploaded: the shared big layer went up twice?", stats.Blobs.BytesIn)
	}
	if stats.Manifests.BytesIn == 0 {
		t.Errorf("no manifest bytes uploaded: %+v", stats.Manifests)
	}

	ref := "docker://" + reg.Addr() + "/e2e/base:v1"
	var index manifest
	raw := skopeo(t, "inspect", "--raw", "--tls-verify=false", "--creds", reg.Creds(), ref)
	if err := json.Unmarshal([]byte(raw), &index); err != nil {
		t.Fatal(err)
	}
	platforms := map[string]bool{}
	for _, m := range index.Manifests {
		if m.Platform != nil {
			platforms[m.Platform.OS+"/"+m.Platform.Architecture] = true
		}
	}
	if len(index.Manifests) != 2 || !platforms["linux/amd64"] || !platforms["linux/arm64"] {
		t.Errorf("registry's index has %d manifests for %v, want linux/amd64 and linux/arm64", len(index.Manifests), platforms)
	}
	out := skopeo(t, "inspect", "--tls-verify=false", "--creds", reg.Creds(), "--override-arch", "arm64", ref)
	if !strings.Contains(out, `"Architecture": "arm64"`) || !strings.Contains(out, "BASE_ENV=from-base") {
		t.Errorf("skopeo inspect (arm64) saw:\n%s", out)
	}

	// htpasswd: anonymous clients are refused, directly and through the proxy.
	for _, addr := range []string{reg.Addr(), proxy.Addr()} {
		anon, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "--no-creds",
			"docker://"+addr+"/e2e/base:v1").CombinedOutput()
		if err == nil {
			t.Errorf("anonymous skopeo inspect of %s succeeded:\n%s", addr, anon)
		} else if !strings.Contains(strings.ToLower(string(anon)), "unauthorized") {
			t.Errorf("anonymous skopeo inspect of %s failed, but not for auth: %s", addr, anon)
		}
	}
	bad, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", "e2e:wrong", ref).CombinedOutput()
	if err == nil {
		t.Errorf("skopeo inspect with a wrong password succeeded:\n%s", bad)
	}

	// The credentials also work from a Docker config's auths and through a
	// credential helper on PATH.
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	if err := harness.WriteDockerConfig(cfgPath, reg.Addr(), reg.User, reg.Password); err != nil {
		t.Fatal(err)
	}
	skopeo(t, "inspect", "--raw", "--tls-verify=false", "--authfile", cfgPath, ref)
	helperDir, err := harness.WriteCredentialHelper(filepath.Join(dir, "bin"), "e2e", reg.Addr(), reg.User, reg.Password)
	if err != nil {
		t.Fatal(err)
	}
	helperCfg := filepath.Join(dir, "helper.json")
	if err := os.WriteFile(helperCfg, []byte(`{"credHelpers": {"`+reg.Addr()+`": "e2e"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", helperCfg, ref)
	cmd.Env = append(os.Environ(), "PATH="+helperDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("skopeo inspect with the credential helper: %v\n%s", err, out)
	}

	// A registry without auth answers /v2/ anonymously.
	open, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Stop()
	resp, err := http.Get("http://" + open.Addr() + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || open.Creds() != "" {
		t.Errorf("registry without auth: /v2/ = %d", resp.StatusCode)
	}
}
