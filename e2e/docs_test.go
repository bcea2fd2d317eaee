//go:build e2e

package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// runnableSnippets returns the code blocks of a Markdown file that follow a
// `<!-- runnable: PATH ... -->` line, by PATH.
func runnableSnippets(t *testing.T, markdown string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(markdown)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- runnable: (\\S+)[^>]*-->\\n```[a-z]*\\n(.*?)```")
	snippets := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		snippets[m[1]] = m[2]
	}
	if len(snippets) == 0 {
		t.Fatalf("%s has no runnable snippet", markdown)
	}
	return snippets
}

// pasteWorkspace writes files (path -> content) into a new temp dir as a
// workspace that gets rules_img from rel's registry: the version the docs name
// becomes the release's.
func pasteWorkspace(t *testing.T, rel *harness.Release, files map[string]string) string {
	t.Helper()
	dir, err := harness.TempDir("rules_img_e2e_docs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	files[".bazelrc"] = "common --registry=" + rel.Registry + "\n"
	dep := regexp.MustCompile(`bazel_dep\(name = "rules_img", version = "[^"]*"\)`)
	for path, content := range files {
		if path == "MODULE.bazel" {
			if !dep.MatchString(content) {
				t.Fatalf("the docs' MODULE.bazel does not depend on rules_img:\n%s", content)
			}
			content = dep.ReplaceAllString(content, `bazel_dep(name = "rules_img", version = "`+harness.ReleaseVersion+`")`)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(path, ".sh") {
			mode = 0o755 // as the recipe says: chmod +x
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRecipes builds each recipe of docs/recipes.md (snippets marked
// `runnable: RECIPE:PATH`) in an empty workspace, loads its image into
// containerd and runs it. A recipe with a packages.json first locks it
// against a loopback Debian repository.
func TestRecipes(t *testing.T) {
	rel, err := harness.MakeRelease()
	if err != nil {
		t.Fatal(err)
	}
	recipes := map[string]map[string]string{}
	for key, content := range runnableSnippets(t, filepath.Join(harness.RepoRoot(), "docs", "recipes.md")) {
		name, path, ok := strings.Cut(key, ":")
		if !ok {
			t.Fatalf("runnable snippet %q: want RECIPE:PATH", key)
		}
		if recipes[name] == nil {
			recipes[name] = map[string]string{}
		}
		recipes[name][path] = content
	}
	ctrd := startContainerd(t)
	// Recipes with Debian packages get the ones tools/setup.sh downloaded,
	// served here, in place of the mirror their packages.json names.
	debs := httptest.NewServer(http.FileServer(http.Dir(harness.DebRepoPath())))
	t.Cleanup(debs.Close)
	sources := regexp.MustCompile(`(?s)"sources": \[.*?\],`)
	for name, files := range recipes {
		t.Run(name, func(t *testing.T) {
			if m, ok := files["packages.json"]; ok {
				if !sources.MatchString(m) {
					t.Fatalf("the recipe's packages.json has no sources:\n%s", m)
				}
				files["packages.json"] = sources.ReplaceAllString(m, `"sources": [{"url": "`+debs.URL+`", "suite": "./"}],`)
			}
			b := freshBazel(t, pasteWorkspace(t, rel, files), "rules_img_e2e_recipe_ob-", ctrd)
			if _, ok := files["packages.json"]; ok {
				if _, err := bazelRun(t, b, "@debian//:lock", nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := bazelRun(t, b, "//:load", nil, "--daemon", "containerd"); err != nil {
				t.Fatal(err)
			}
			ref := "docker.io/library/hello-" + name + ":latest"
			if got, err := ctrd.Run(ref, "recipe-"+name); err != nil || !strings.Contains(got, "hello from a ") {
				t.Errorf("%s: %v %q", ref, err, got)
			}
		})
	}
}

// TestReadmeQuickStart pastes the README's quick start into an empty
// workspace that gets rules_img from a release's registry, adds the service's
// main.go, builds the two-platform index, pushes it to Distribution, loads the
// image into containerd and runs it. It fails when the README drifts.
func TestReadmeQuickStart(t *testing.T) {
	rel, err := harness.MakeRelease()
	if err != nil {
		t.Fatal(err)
	}
	files := runnableSnippets(t, filepath.Join(harness.RepoRoot(), "README.md"))
	files["app/main.go"] = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from the README's quick start\") }\n"
	dir := pasteWorkspace(t, rel, files)
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	ctrd := startContainerd(t)
	b := freshBazel(t, dir, "rules_img_e2e_readme_ob-", ctrd)

	index := descriptorOf(t, b, "//app:server")
	if _, err := bazelRun(t, b, "//app:server_push", nil, "--registry", reg.Addr()); err != nil {
		t.Fatal(err)
	}
	ref := reg.Addr() + "/my-org/server:latest"
	if _, got, err := harness.RawManifest(reg.Addr(), "my-org/server", "latest"); err != nil || got != index.Digest {
		t.Fatalf("my-org/server:latest is %s (%v), want the index %s", got, err, index.Digest)
	}
	if err := harness.VerifyImage(ref); err != nil {
		t.Fatal(err)
	}
	if got := pullAndRun(t, ctrd, ref, "readme-push"); !strings.Contains(got, "hello from the README's quick start") {
		t.Errorf("the pushed index ran %q", got)
	}
	if _, err := bazelRun(t, b, "//app:server_load", nil, "--daemon", "containerd"); err != nil {
		t.Fatal(err)
	}
	if got, err := ctrd.Run("docker.io/library/server:dev", "readme-load"); err != nil || !strings.Contains(got, "hello from the README's quick start") {
		t.Errorf("the loaded image: %v %q", err, got)
	}
}
