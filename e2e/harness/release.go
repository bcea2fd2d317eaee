package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// ReleaseVersion is the version the e2e suite releases this checkout as.
const ReleaseVersion = "0.0.0-e2e"

// Release is this checkout made into a release by tools/release.sh, as users
// get it: the module archive, the prebuilt img binaries and a registry.
type Release struct {
	Dir      string // OUTDIR of tools/release.sh; also the URL base (file://Dir)
	Module   string // the archive unpacked: what --override_module points at
	Registry string // file:// URL of the registry serving ReleaseVersion
	rc       string // a bazelrc overriding rules_img with Module
}

var release struct {
	once sync.Once
	r    *Release
	err  error
}

// MakeRelease runs tools/release.sh once per test process and returns it.
func MakeRelease() (*Release, error) {
	release.once.Do(func() { release.r, release.err = makeRelease() })
	return release.r, release.err
}

func makeRelease() (*Release, error) {
	dir, err := TempDir("rules_img_e2e_release-")
	if err != nil {
		return nil, err
	}
	r := &Release{Dir: dir, Module: filepath.Join(dir, "module"), Registry: "file://" + filepath.Join(dir, "registry")}
	cmd := exec.Command(filepath.Join(RepoRoot(), "tools", "release.sh"), ReleaseVersion, dir, "file://"+dir)
	// The suite tests the work tree as it is, committed or not.
	cmd.Env = append(os.Environ(), "RULES_IMG_RELEASE_DIRTY=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("tools/release.sh: %v\n%s", err, out)
	}
	if err := os.MkdirAll(r.Module, 0o755); err != nil {
		return nil, err
	}
	archive := filepath.Join(dir, "rules_img-"+ReleaseVersion+".tar.gz")
	if out, err := exec.Command("tar", "-xzf", archive, "-C", r.Module, "--strip-components=1").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("unpacking %s: %v\n%s", archive, err, out)
	}
	r.rc = filepath.Join(dir, "e2e.bazelrc")
	rc := "# Every e2e workspace uses rules_img as released, with its prebuilt img.\n" +
		"common --override_module=rules_img=" + r.Module + "\n"
	if err := os.WriteFile(r.rc, []byte(rc), 0o644); err != nil {
		return nil, err
	}
	return r, nil
}

// Img is the released img binary for this machine.
func (r *Release) Img() string {
	return filepath.Join(r.Dir, fmt.Sprintf("img-%s-%s-%s", ReleaseVersion, runtime.GOOS, runtime.GOARCH))
}

// ImgBinary is the released img of this checkout: the servers are its
// subcommands (img bes, img registry), as users run them.
func ImgBinary() (string, error) {
	r, err := MakeRelease()
	if err != nil {
		return "", err
	}
	return r.Img(), nil
}

// Remove deletes the release's files.
func (r *Release) Remove() { os.RemoveAll(r.Dir) }

// UseRelease makes every Bazel of this process that has not opted out
// (Bazel.FromSource) build with r in place of the checkout's rules_img.
func UseRelease(r *Release) { useRelease = r }

var useRelease *Release
