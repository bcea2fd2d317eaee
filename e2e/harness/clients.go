package harness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Skopeo runs skopeo and returns its stdout.
func Skopeo(args ...string) ([]byte, error) { return runSkopeo(args...) }

// RawManifest returns what the registry at addr serves for repo:ref (a tag
// or digest) over plain HTTP, and the digest of those bytes.
func RawManifest(addr, repo, ref string) (raw []byte, digest string, err error) {
	sep := ":"
	if strings.HasPrefix(ref, "sha256:") {
		sep = "@"
	}
	raw, err = runSkopeo("inspect", "--raw", "--tls-verify=false", "docker://"+addr+"/"+repo+sep+ref)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(raw)
	return raw, "sha256:" + hex.EncodeToString(sum[:]), nil
}

// CranePath is where tools/setup.sh installs crane.
func CranePath() string { return filepath.Join(cacheDir(), "bin", "crane") }

// GoSDKPath is the Go SDK repository tools/setup.sh prepares for rules_go.
func GoSDKPath() string { return filepath.Join(cacheDir(), "go_default_sdk") }

// DebRepoPath is the flat Debian repository tools/setup.sh prepares for
// the base image tests (pool/*.deb and Packages.gz).
func DebRepoPath() string { return filepath.Join(cacheDir(), "debrepo") }

func cacheDir() string {
	if d := os.Getenv("RULES_IMG_CACHE"); d != "" {
		return d
	}
	return "/var/cache/rules_img"
}

// Crane runs crane (installed by tools/setup.sh) with --insecure, for
// loopback registries.
func Crane(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(CranePath(), append(args, "--insecure")...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("crane %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 30))
	}
	return out.String(), nil
}

// VerifyImage copies every platform of ref (on a plain-HTTP registry) with
// skopeo, which checks each blob against its digest, into a scratch layout.
// (crane validate would do too, but v0.20 cannot read zstd layers.)
func VerifyImage(ref string) error {
	dir, err := TempDir("rules_img_verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	policy, err := skopeoPolicy()
	if err != nil {
		return err
	}
	defer os.Remove(policy)
	_, err = runSkopeo("--policy", policy, "copy", "--all", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(dir, "layout"))
	return err
}

// CdxgenDir is where tools/setup.sh installs npm's cdxgen.
func CdxgenDir() string { return filepath.Join(cacheDir(), "cdxgen") }
