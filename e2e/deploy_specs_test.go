//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestUpstreamDeploySpecs builds e2e/workspace/upstream_deploy, written from
// upstream rules_img's current docs: images that carry push_specs and
// load_specs, multi_deploy over the images with deploy_operations and
// push_strategy, a stamped index, manifest_tags, x86-64 levels with a tag
// each, stamp_created and created_timestamp, tracks_content, and Make
// variables in a binary's args. The pushes reach CNCF Distribution, the
// loads containerd, and the image runs there.
func TestUpstreamDeploySpecs(t *testing.T) {
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
	b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
		"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
		"E2E_STAMP_VALUE=rev1",
	}}
	stamp := []string{"--stamp", "--workspace_status_command=" + filepath.Join(ws.Workspace, "deploy", "status.sh")}

	digestOf := func(repo, ref string) string {
		t.Helper()
		_, d, err := harness.RawManifest(reg.Addr(), repo, ref)
		if err != nil {
			t.Fatalf("%s:%s: %v", repo, ref, err)
		}
		return d
	}
	createdOf := func(target string, flags ...string) string {
		t.Helper()
		layout := layoutOf(t, b, target, flags...)
		var m manifest
		readJSON(t, filepath.Join(layout, "index.json"), &m)
		var img manifest
		readJSON(t, blobPath(layout, m.Manifests[0].Digest), &img)
		var cfg struct{ Created string }
		readJSON(t, blobPath(layout, img.Config.Digest), &cfg)
		return cfg.Created
	}

	t.Run("stamp_created and created_timestamp", func(t *testing.T) {
		for _, target := range []string{"//upstream_deploy:frontend", "//upstream_deploy:backend"} {
			if got := createdOf(target); got != "1970-01-01T00:00:00Z" {
				t.Errorf("%s unstamped: created %q, want the reproducible default", target, got)
			}
			got := createdOf(target, stamp...)
			when, err := time.Parse(time.RFC3339, got)
			if err != nil || time.Since(when) > time.Hour || time.Since(when) < -time.Minute {
				t.Errorf("%s stamped: created %q, want the build time", target, got)
			}
		}
	})

	t.Run("config and annotations from files", func(t *testing.T) {
		layout := layoutOf(t, b, "//upstream_deploy:index_from_files")
		var top manifest
		readJSON(t, filepath.Join(layout, "index.json"), &top)
		var index struct {
			Manifests   []descriptor
			Annotations map[string]string
		}
		readJSON(t, blobPath(layout, top.Manifests[0].Digest), &index)
		const vendor = "org.opencontainers.image.vendor"
		if index.Annotations[vendor] != "rules_img e2e" {
			t.Errorf("index annotations %v, want the annotations_file's", index.Annotations)
		}
		var m struct {
			Config      descriptor
			Layers      []descriptor
			Annotations map[string]string
		}
		readJSON(t, blobPath(layout, index.Manifests[0].Digest), &m)
		if m.Annotations[vendor] != "rules_img e2e" {
			t.Errorf("manifest annotations %v", m.Annotations)
		}
		if l := m.Layers[0]; l.MediaType != "application/vnd.docker.image.rootfs.diff.tar.gzip" || l.Annotations[vendor] != "rules_img e2e" {
			t.Errorf("layer descriptor %+v, want media_type's type and the annotations_file's annotation", l)
		}
		var c config
		readJSON(t, blobPath(layout, m.Config.Digest), &c)
		if !slices.Contains(c.Config.Env, "A=attr") || !slices.Contains(c.Config.Env, "B=b=1 2") {
			t.Errorf("env %q, want env over env_file and the JSON list's last value", c.Config.Env)
		}
		if c.Config.Labels["team"] != "e2e" || c.Config.Labels["stage"] != "second file" {
			t.Errorf("labels %v, want both label_files, the later winning", c.Config.Labels)
		}
	})

	t.Run("stamped index", func(t *testing.T) {
		layout := layoutOf(t, b, "//upstream_deploy:multiarch", stamp...)
		var top manifest
		readJSON(t, filepath.Join(layout, "index.json"), &top)
		var raw struct{ Annotations map[string]string }
		readJSON(t, blobPath(layout, top.Manifests[0].Digest), &raw)
		if raw.Annotations["org.opencontainers.image.version"] != "1.0.0" || raw.Annotations["org.opencontainers.image.revision"] != "rev1" {
			t.Errorf("index annotations %v, want version 1.0.0 (build setting) and revision rev1 (workspace status)", raw.Annotations)
		}
	})

	t.Run("a spec's own strategy", func(t *testing.T) {
		// Before anything is in the registry, so the push must upload.
		out, err := bazelRun(t, b, "//upstream_deploy:push_lazy", nil, "--registry", reg.Addr())
		if err == nil || !strings.Contains(out, "no remote cache is set") {
			t.Errorf("a lazy push without a remote cache should fail, naming it (%v):\n%s", err, out)
		}
	})

	t.Run("multi_deploy over images with specs", func(t *testing.T) {
		out, err := bazelRun(t, b, "//upstream_deploy:deploy", nil, "--registry", reg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "4 operations, 4 succeeded, 0 failed") {
			t.Errorf("want the frontend's push and load, the backend's push and lazy_only's:\n%s", out)
		}
		digestOf("upstream/frontend", "1.0.0")
		digestOf("upstream/backend", "1.0.0")
		// The lazy spec, pushed because push_strategy = "eager" put its layers in the runfiles.
		digestOf("upstream/lazy_only", "lazy")
		if err := harness.VerifyImage(reg.Addr() + "/upstream/frontend:1.0.0"); err != nil {
			t.Fatal(err)
		}
		got, err := ctrd.Run("docker.io/upstream_deploy/frontend:latest", "specs-run")
		if err != nil {
			images, _ := ctrd.Ctr("images", "ls", "-q")
			t.Fatalf("the load spec's image: %v (images: %s)", err, images)
		}
		// args: $(CHEESE) from --define and $(rlocationpath ...) expanded, as bazel run does.
		if !strings.Contains(got, "args=--define=CHEESE=gouda _main/upstream_deploy/main.go") {
			t.Errorf("container printed %q", got)
		}
		if got := pullAndRun(t, ctrd, reg.Addr()+"/upstream/frontend:1.0.0", "specs-pulled"); !strings.Contains(got, "CHEESE=gouda") {
			t.Errorf("pushed image printed %q", got)
		}
	})

	t.Run("deploy_operations", func(t *testing.T) {
		out, err := bazelRun(t, b, "//upstream_deploy:push_only", nil, "--registry", reg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "2 operations, 2 succeeded, 0 failed") || strings.Contains(out, "load ") {
			t.Errorf("want the two pushes and no load:\n%s", out)
		}
	})

	t.Run("build settings in a spec", func(t *testing.T) {
		if _, err := bazelRun(t, b, "//upstream_deploy:deploy", []string{"--//upstream_deploy:version=2.0.0"}, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		digestOf("upstream/frontend", "2.0.0")
	})

	t.Run("manifest_tags", func(t *testing.T) {
		if _, err := bazelRun(t, b, "//upstream_deploy:push_multiarch", stamp, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		raw, idx, err := harness.RawManifest(reg.Addr(), "upstream/multiarch", "1.0.0")
		if err != nil {
			t.Fatal(err)
		}
		if digestOf("upstream/multiarch", "latest") != idx {
			t.Error("latest does not name the index")
		}
		var index manifest
		if err := json.Unmarshal(raw, &index); err != nil {
			t.Fatal(err)
		}
		for _, m := range index.Manifests {
			tag := "1.0.0-" + m.Platform.OS + "-" + m.Platform.Architecture
			if got := digestOf("upstream/multiarch", tag); got != m.Digest {
				t.Errorf("%s names %s, want the %s manifest %s", tag, got, m.Platform.Architecture, m.Digest)
			}
		}
		if got := pullAndRun(t, ctrd, reg.Addr()+"/upstream/multiarch:1.0.0-linux-amd64", "manifest-tag-run"); !strings.Contains(got, "app on linux/amd64") {
			t.Errorf("container printed %q", got)
		}
	})

	t.Run("x86-64 levels", func(t *testing.T) {
		out, err := bazelRun(t, b, "//upstream_deploy:push_levels", nil, "--registry", reg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		v3, v4 := digestOf("upstream/levels", "linux-amd64-v3"), digestOf("upstream/levels", "linux-amd64-v4")
		if v3 == v4 {
			t.Errorf("both levels name %s:\n%s", v3, out)
		}
		out, err = bazelRun(t, b, "//upstream_deploy:levels_clash", nil, "--registry", reg.Addr())
		if err == nil || !strings.Contains(out, `manifest_tags: tag "linux-amd64" would name two images`) {
			t.Errorf("manifest_tags without the variant should be refused before anything is pushed (%v):\n%s", err, out)
		}
		if _, _, err := harness.RawManifest(reg.Addr(), "upstream/clash", "linux-amd64"); err == nil {
			t.Error("the refused push left a tag")
		}
	})

	t.Run("scoped registry credential helper", func(t *testing.T) {
		authReg, err := harness.StartRegistry(harness.RegistryOptions{User: "e2e", Password: "s3cret-helper"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(authReg.Stop)
		dir := t.TempDir()
		helper := filepath.Join(dir, "registry-helper")
		basic := base64.StdEncoding.EncodeToString([]byte("e2e:s3cret-helper"))
		script := "#!/bin/sh\ngrep -q '\"https://" + authReg.Addr() + "\"' && echo '{\"headers\":{\"Authorization\":[\"Basic " + basic + "\"]}}' || echo '{}'\n"
		if err := os.WriteFile(helper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		// No docker config: the helper is the only source of credentials.
		nb := &harness.Bazel{Workspace: ws.Workspace, Env: []string{"DOCKER_CONFIG=" + t.TempDir()}}
		out, err := bazelRun(t, nb, "//deploy:push", []string{"--@rules_img//img/settings:credential_helper_oci_registry=" + helper}, "--registry", authReg.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "s3cret-helper") || strings.Contains(out, basic) {
			t.Errorf("the output quotes the credentials:\n%s", out)
		}
		// The unscoped helper is the cache's alone: the registry refuses.
		out, err = bazelRun(t, nb, "//deploy:push", []string{"--@rules_img//img/settings:credential_helper=" + helper}, "--registry", authReg.Addr(), "--repository", "e2e/unscoped")
		if err == nil || !strings.Contains(out, "401") && !strings.Contains(strings.ToLower(out), "auth") {
			t.Errorf("the cache's helper should not reach the registry (%v):\n%s", err, tailLines(out, 10))
		}
	})

	t.Run("tracks_content", func(t *testing.T) {
		tagged := regexp.MustCompile(`upstream/tracked:(t[0-9]+)`)
		push := func(version string) string {
			t.Helper()
			flags := append([]string{"--//upstream_deploy:version=" + version}, stamp...)
			out, err := bazelRun(t, b, "//upstream_deploy:push_tracked", flags, "--registry", reg.Addr())
			if err != nil {
				t.Fatal(err)
			}
			m := tagged.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no tag in:\n%s", out)
			}
			return m[1]
		}
		first := push("1")
		time.Sleep(1100 * time.Millisecond) // BUILD_TIMESTAMP counts seconds
		again := push("1")
		time.Sleep(1100 * time.Millisecond)
		changed := push("2")
		if again != first {
			t.Errorf("the same image got a new tag %s (was %s)", again, first)
		}
		if changed == first {
			t.Errorf("a changed image kept the tag %s stamped for the old one", first)
		}
	})

	t.Run("SBOM as a referrer, upstream's example", func(t *testing.T) {
		if _, err := bazelRun(t, b, "//upstream_deploy:push_supply_chain", nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		ref := reg.Addr() + "/upstream/supply-chain-example:latest"
		out := oras(t, "discover", "--plain-http", "--format", "json", ref)
		var tree struct {
			Referrers []struct {
				ArtifactType string `json:"artifactType"`
				Digest       string `json:"digest"`
			} `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(out), &tree); err != nil || len(tree.Referrers) != 1 || tree.Referrers[0].ArtifactType != "application/vnd.cyclonedx+json" {
			t.Fatalf("referrers of %s: %v\n%s", ref, err, out)
		}
		sbom := oras(t, "blob", "fetch", "--plain-http", "--output", "-", reg.Addr()+"/upstream/supply-chain-example@"+
			layerOf(t, reg.Addr(), "upstream/supply-chain-example", tree.Referrers[0].Digest))
		want, _ := os.ReadFile(filepath.Join(ws.Workspace, "upstream_deploy", "sbom.cdx.json"))
		if sbom != string(want) {
			t.Errorf("the referrer's layer is %q, want the SBOM", sbom)
		}
		// The image itself is the two-platform index, and skopeo reads it.
		raw, _, err := harness.RawManifest(reg.Addr(), "upstream/supply-chain-example", "latest")
		var idx manifest
		if err != nil || json.Unmarshal(raw, &idx) != nil || len(idx.Manifests) != 2 {
			t.Errorf("the pushed image is not the two-platform index: %v\n%s", err, raw)
		}
	})
}

// layerOf is the digest of the one layer of a manifest in the registry.
func layerOf(t *testing.T, addr, repo, digest string) string {
	t.Helper()
	raw, _, err := harness.RawManifest(addr, repo, digest)
	var m manifest
	if err != nil || json.Unmarshal(raw, &m) != nil || len(m.Layers) != 1 {
		t.Fatalf("%s@%s: want one layer: %v\n%s", repo, digest, err, raw)
	}
	return m.Layers[0].Digest
}
