//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
)

// installedWorkspace copies e2e/installed to a temp dir with its templates
// filled in, and extra appended to its MODULE.bazel.
func installedWorkspace(t *testing.T, rel *harness.Release, registry, digest, extra string) string {
	t.Helper()
	dir, err := harness.TempDir("rules_img_e2e_installed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	src := filepath.Join(harness.RepoRoot(), "e2e", "installed")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{{VERSION}}", harness.ReleaseVersion, "{{REGISTRY}}", registry,
		"{{DIGEST}}", digest, "{{RULES_IMG_REGISTRY}}", rel.Registry)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(e.Name(), ".tmpl")
		content := fill.Replace(string(b))
		if name == "MODULE.bazel" {
			content += extra
		}
		info, _ := e.Info()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// installedEnv is what installing rules_img from a release needs: the
// release, a Distribution holding a busybox base, and a containerd to run
// images in.
type installedEnv struct {
	rel  *harness.Release
	reg  *harness.Registry
	base string // digest of e2e/busybox:v1 in reg
	ctrd *harness.Containerd
}

func startInstalledEnv(t *testing.T) *installedEnv {
	t.Helper()
	rel, err := harness.MakeRelease()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	base, err := harness.PushBusyboxBase(reg.Addr(), "e2e/busybox", "v1")
	if err != nil {
		t.Fatal(err)
	}
	return &installedEnv{rel: rel, reg: reg, base: base, ctrd: startContainerd(t)}
}

// startContainerd starts a containerd that is stopped when the test ends.
func startContainerd(t *testing.T) *harness.Containerd {
	t.Helper()
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	return ctrd
}

// freshBazel is Bazel in workspace with an output base of its own, removed
// when the test ends. FromSource: the workspace resolves rules_img itself
// (a registry, an override), not through the suite's release override.
// With ctrd, `bazel run` launchers load into it.
func freshBazel(t *testing.T, workspace, prefix string, ctrd *harness.Containerd) *harness.Bazel {
	t.Helper()
	ob, err := harness.TempDir(prefix)
	if err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: workspace, OutputBase: ob, FromSource: true}
	if ctrd != nil {
		b.Env = []string{"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace}
	}
	t.Cleanup(func() { b.Shutdown(); os.RemoveAll(ob) })
	return b
}

// goRepos matches repositories that only a Go toolchain would bring.
var goRepos = regexp.MustCompile(`(^|~)(go_sdk|go_default_sdk|go_host_compatible_sdk_label|go_toolchains|go_deps|rules_go|io_bazel_rules_go|gazelle|bazel_gazelle|com_github_[a-z_]+|org_golang_[a-z_]+)($|~)`)

// TestInstalledAsAUser installs rules_img as users do: tools/release.sh
// makes a release, and a workspace with no Go of its own depends on it
// through the release's registry, in a fresh output base. It builds images of
// an sh_binary and a file, pushes them to Distribution, loads them into
// containerd, runs them, and fetches no Go SDK or Go module. The same
// workspace with img built from source (img_tool.source()) gives the same
// digests.
func TestInstalledAsAUser(t *testing.T) {
	e := startInstalledEnv(t)
	rel, reg, base, ctrd := e.rel, e.reg, e.base, e.ctrd
	b := freshBazel(t, installedWorkspace(t, rel, reg.Addr(), base, ""), "rules_img_e2e_installed_ob-", ctrd)

	start := time.Now()
	if _, err := b.Must("build", "//:image", "//:plain"); err != nil {
		t.Fatal(err)
	}
	t.Logf("fresh output base to both images: %.1f s", time.Since(start).Seconds())
	image := descriptorOf(t, b, "//:image")
	plain := descriptorOf(t, b, "//:plain")

	t.Run("no Go was fetched", func(t *testing.T) {
		ents, err := os.ReadDir(filepath.Join(b.OutputBase, "external"))
		if err != nil {
			t.Fatal(err)
		}
		var names, bad []string
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			names = append(names, e.Name())
			if goRepos.MatchString(e.Name()) {
				bad = append(bad, e.Name())
			}
		}
		if len(bad) > 0 {
			t.Errorf("a workspace without Go fetched %v", bad)
		}
		if !slices.Contains(names, "rules_img~~img_tool~rules_img_tool_linux_amd64") {
			t.Errorf("the prebuilt img was not fetched; external/ holds %v", names)
		}
	})

	t.Run("every package of the release loads", func(t *testing.T) {
		// No development file (a Go BUILD file, rules_go) was shipped.
		if _, err := b.Must("query", "@rules_img//...", "--output=package"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the registry's test module builds", func(t *testing.T) {
		// .bcr/presubmit.yml builds e2e/bcr as shipped in the archive, its
		// override pointing at the archive's root.
		bb := freshBazel(t, filepath.Join(rel.Module, "e2e", "bcr"), "rules_img_e2e_bcr-", nil)
		if _, err := bb.Must("build", "//...", "--output_groups=+tarball"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("push and run", func(t *testing.T) {
		if _, err := bazelRun(t, b, "//:push", nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		ref := reg.Addr() + "/e2e/installed:v1"
		if _, got, err := harness.RawManifest(reg.Addr(), "e2e/installed", "v1"); err != nil || got != image.Digest {
			t.Fatalf("e2e/installed:v1 is %s (%v), want %s", got, err, image.Digest)
		}
		if err := harness.VerifyImage(ref); err != nil {
			t.Fatal(err)
		}
		if got := pullAndRun(t, ctrd, ref, "installed-push"); !strings.Contains(got, "installed rules_img says: hello from a workspace without Go") {
			t.Errorf("the pushed image printed %q", got)
		}
	})

	t.Run("load and run", func(t *testing.T) {
		if _, err := bazelRun(t, b, "//:load", nil, "--daemon", "containerd"); err != nil {
			t.Fatal(err)
		}
		got, err := ctrd.Run("docker.io/e2e/installed:load", "installed-load")
		if err != nil || !strings.Contains(got, "installed rules_img says: hello from a workspace without Go") {
			t.Fatalf("the loaded image: %v %q", err, got)
		}
	})

	t.Run("layer_from_pkg without rules_pkg says what to add", func(t *testing.T) {
		r := b.Run("build", "//:pkg_layer")
		if r.Err == nil || !strings.Contains(r.Stderr, `img_pkg.use(providers = "@rules_pkg//pkg:providers.bzl")`) || !strings.Contains(r.Stderr, "//:pkg_layer") {
			t.Errorf("want a failure naming the target and the lines to add, got %v:\n%s", r.Err, tailLines(r.Stderr, 15))
		}
	})

	t.Run("img from source gives the same digests", func(t *testing.T) {
		src := installedWorkspace(t, rel, reg.Addr(), base, `
img_tool = use_extension("@rules_img//img:extensions.bzl", "img_tool")
img_tool.source()
`)
		sb := freshBazel(t, src, "rules_img_e2e_installed_src-", nil)
		sob := sb.OutputBase
		if got := descriptorOf(t, sb, "//:image"); got.Digest != image.Digest {
			t.Errorf("//:image is %s with img from source, %s with the prebuilt one", got.Digest, image.Digest)
		}
		if got := descriptorOf(t, sb, "//:plain"); got.Digest != plain.Digest {
			t.Errorf("//:plain is %s with img from source, %s with the prebuilt one", got.Digest, plain.Digest)
		}
		if _, err := os.Stat(filepath.Join(sob, "external", "rules_img~~img_tool~rules_img_tool_linux_amd64")); err == nil {
			t.Error("img_tool.source() still downloaded the prebuilt img")
		}
		if _, err := os.Stat(filepath.Join(sob, "external", "rules_img~~img_tool~rules_img_host_tool", "img")); err != nil {
			t.Errorf("img_tool.source() built no img: %v", err)
		}
	})

	t.Run("a bad mirror fails naming the URL and the fix", func(t *testing.T) {
		bad, err := harness.TempDir("rules_img_e2e_bad_mirror-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(bad) })
		name := "img-" + harness.ReleaseVersion + "-linux-amd64"
		if err := os.WriteFile(filepath.Join(bad, name), []byte("not img\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ base, want string }{
			{"file://" + bad, "has sha256"},
			{"file://" + filepath.Join(bad, "missing"), "the file is missing or the server is unreachable"},
		} {
			ws := installedWorkspace(t, rel, reg.Addr(), base, `
img_tool = use_extension("@rules_img//img:extensions.bzl", "img_tool")
img_tool.download(url_base = "`+c.base+`")
`)
			mb := freshBazel(t, ws, "rules_img_e2e_mirror_ob-", nil)
			// No repository cache: it would answer by checksum without asking
			// the mirror.
			r := mb.Run("build", "//:plain", "--repository_cache=")
			url := c.base + "/" + name
			if r.Err == nil || !strings.Contains(r.Stderr, url) || !strings.Contains(r.Stderr, c.want) || !strings.Contains(r.Stderr, "img_tool.source()") {
				t.Errorf("mirror %s: want a failure naming %s, %q and the fixes, got %v:\n%s", c.base, url, c.want, r.Err, tailLines(r.Stderr, 15))
			}
		}
	})
}

// TestReleaseNotesInstall pastes the archive_override lines of a release's
// RELEASE_NOTES.md into an empty workspace, with no registry for rules_img:
// the version and integrity they carry install the release, and an image
// builds with its prebuilt img.
func TestReleaseNotesInstall(t *testing.T) {
	rel, err := harness.MakeRelease()
	if err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(rel.Dir, "RELEASE_NOTES.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```starlark\n(.*?)```").FindAllStringSubmatch(string(notes), -1)
	if len(blocks) != 2 || !strings.Contains(blocks[1][1], "archive_override(") {
		t.Fatalf("RELEASE_NOTES.md has no archive_override block:\n%s", notes)
	}
	var source struct{ Integrity string }
	readJSON(t, filepath.Join(rel.Dir, "registry", "modules", "rules_img", harness.ReleaseVersion, "source.json"), &source)
	if !strings.Contains(blocks[1][1], `integrity = "`+source.Integrity+`"`) || !strings.Contains(blocks[1][1], `version = "`+harness.ReleaseVersion+`"`) {
		t.Fatalf("the notes' lines lack the release's version %s or integrity %s:\n%s", harness.ReleaseVersion, source.Integrity, blocks[1][1])
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"MODULE.bazel": blocks[1][1],
		"BUILD.bazel": `load("@rules_img//img:layer.bzl", "image_layer")

image_layer(
    name = "layer",
    srcs = {"/etc/greeting.txt": "greeting.txt"},
)
`,
		"greeting.txt": "hello\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// FromSource: no e2e override; the workspace's own lines decide.
	b := freshBazel(t, dir, "rules_img_e2e_notes_ob-", nil)
	if _, err := b.Must("build", "//:layer"); err != nil {
		t.Fatal(err)
	}
	// Bazel fetched it by the notes' URL and checked their integrity: with
	// no registry or override for rules_img, nothing else could supply it.
	module, err := os.ReadFile(filepath.Join(b.OutputBase, "external", "rules_img~", "MODULE.bazel"))
	if err != nil || !strings.Contains(string(module), `version = "`+harness.ReleaseVersion+`"`) {
		t.Errorf("@rules_img is not the released module: %v\n%s", err, module)
	}
}
