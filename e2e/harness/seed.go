package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BaseTarget is the big two-platform base image in e2e/workspace (//base):
// a ~576 MiB layer of incompressible bytes plus /etc/base-release.
const BaseTarget = "//base:index"

// BaseLayout builds BaseTarget's OCI layout in ws and returns its directory
// and the digest of its root (the index).
func BaseLayout(ws *Bazel) (layout, indexDigest string, err error) {
	if _, err := ws.Must("build", BaseTarget, "--output_groups=+oci_layout"); err != nil {
		return "", "", err
	}
	files, err := ws.OutputFiles(BaseTarget, "oci_layout")
	if err != nil {
		return "", "", err
	}
	if len(files) != 1 {
		return "", "", fmt.Errorf("%s: want one oci_layout output, got %v", BaseTarget, files)
	}
	layout = files[0]
	indexDigest, err = rootDigest(layout)
	return layout, indexDigest, err
}

// rootDigest returns the digest of the single root descriptor in a layout's index.json.
func rootDigest(layout string) (string, error) {
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		return "", err
	}
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", fmt.Errorf("%s/index.json: %v", layout, err)
	}
	if len(idx.Manifests) != 1 {
		return "", fmt.Errorf("%s/index.json: want one root descriptor, got %d", layout, len(idx.Manifests))
	}
	return idx.Manifests[0].Digest, nil
}

// SeedBase builds the base image (BaseTarget) in ws and pushes it with all its
// platforms to addr/repo:tag over plain HTTP; addr is a Registry's or a
// Proxy's host:port, creds is "user:password" or "" for anonymous. It returns
// the index digest, after checking the registry serves the layout's bytes
// under it.
func SeedBase(ws *Bazel, addr, repo, tag, creds string) (indexDigest string, err error) {
	layout, _, err := BaseLayout(ws)
	if err != nil {
		return "", err
	}
	return PushLayout(layout, addr, repo, tag, creds)
}

// PushLayout pushes an OCI layout (all platforms, digests preserved) to
// addr/repo:tag with skopeo over plain HTTP and returns its root digest,
// after checking the registry serves the layout's root bytes under it.
func PushLayout(layout, addr, repo, tag, creds string) (digest string, err error) {
	if digest, err = rootDigest(layout); err != nil {
		return "", err
	}
	policy, err := skopeoPolicy()
	if err != nil {
		return "", err
	}
	defer os.Remove(policy)
	args := []string{"--policy", policy, "copy", "--all", "--preserve-digests", "--dest-tls-verify=false"}
	if creds != "" {
		args = append(args, "--dest-creds", creds)
	} else {
		args = append(args, "--dest-no-creds")
	}
	dest := fmt.Sprintf("docker://%s/%s:%s", addr, repo, tag)
	if _, err := runSkopeo(append(args, "oci:"+layout, dest)...); err != nil {
		return "", err
	}

	want, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:")))
	if err != nil {
		return "", err
	}
	args = []string{"inspect", "--raw", "--tls-verify=false"}
	if creds != "" {
		args = append(args, "--creds", creds)
	} else {
		args = append(args, "--no-creds")
	}
	got, err := runSkopeo(append(args, fmt.Sprintf("docker://%s/%s@%s", addr, repo, digest))...)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(got, want) {
		return "", fmt.Errorf("%s/%s@%s: the registry serves other bytes than the layout's root:\n%s", addr, repo, digest, got)
	}
	return digest, nil
}

// skopeoPolicy writes a policy that accepts anything, so copies do not
// depend on the machine's /etc/containers/policy.json.
func skopeoPolicy() (string, error) {
	f, err := os.CreateTemp("", "skopeo-policy-*.json")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(`{"default": [{"type": "insecureAcceptAnything"}]}` + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

func runSkopeo(args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("skopeo", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("skopeo %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), tail(stderr.String(), 30))
	}
	return stdout.Bytes(), nil
}
