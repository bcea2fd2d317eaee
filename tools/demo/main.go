// Command demo is the README's main job: it builds the example image of
// examples/go_service with Bazel, says where the outputs are, pushes the
// multi-arch index to a private registry, loads the image into a private
// containerd and runs it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rules-img/rules_img/e2e/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ws := &harness.Bazel{Workspace: filepath.Join(harness.RepoRoot(), "examples", "go_service")}
	fmt.Println("building //:image and //:index in examples/go_service ...")
	if _, err := ws.Must("build", "//:image", "//:index", "--output_groups=+oci_layout"); err != nil {
		return err
	}
	image, err := ws.OutputFiles("//:image", "oci_layout")
	if err != nil {
		return err
	}
	index, err := ws.OutputFiles("//:index", "oci_layout")
	if err != nil {
		return err
	}
	imageFiles, err := ws.OutputFiles("//:image", "")
	if err != nil {
		return err
	}
	fmt.Println("\noutputs:")
	for _, f := range imageFiles {
		fmt.Println("  ", f)
	}
	fmt.Println("   image as OCI layout:", image[0])
	fmt.Println("   multi-arch index as OCI layout:", index[0])
	if err := describe(index[0]); err != nil {
		return err
	}

	fmt.Println("\nstarting a private registry; bazel run //:push ...")
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		return err
	}
	defer reg.Stop()
	r := ws.Run("run", "//:push", "--", "--registry", reg.Addr())
	if r.Err != nil {
		return fmt.Errorf("bazel run //:push: %v\n%s", r.Err, r.Stderr)
	}
	fmt.Print(indent(r.Stdout))

	fmt.Println("\nstarting a private containerd; bazel run //:load, then running the image ...")
	ctrd, err := harness.StartContainerd()
	if err != nil {
		return err
	}
	defer ctrd.Stop()
	loader := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
		"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	r = loader.Run("run", "//:load")
	if r.Err != nil {
		return fmt.Errorf("bazel run //:load: %v\n%s", r.Err, r.Stderr)
	}
	fmt.Print(indent(r.Stdout))
	const name = "docker.io/library/go-service-example:latest"
	out, err := ctrd.Run(name, "demo")
	if err != nil {
		return err
	}
	fmt.Printf("container output: %s\n", strings.TrimSpace(out))
	if !strings.Contains(out, "Hello from an image built by rules_img") {
		return fmt.Errorf("the container did not print the expected greeting")
	}
	fmt.Println("ok: the image runs")
	return nil
}

// describe prints the index's platforms and digests.
func describe(layout string) error {
	var top struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := readJSON(filepath.Join(layout, "index.json"), &top); err != nil {
		return err
	}
	var index struct {
		Manifests []struct {
			Digest   string            `json:"digest"`
			Platform map[string]string `json:"platform"`
		} `json:"manifests"`
	}
	blob := filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(top.Manifests[0].Digest, "sha256:"))
	if err := readJSON(blob, &index); err != nil {
		return err
	}
	fmt.Println("   index", top.Manifests[0].Digest)
	for _, m := range index.Manifests {
		fmt.Printf("     %s/%s%s %s\n", m.Platform["os"], m.Platform["architecture"], suffix(m.Platform["variant"]), m.Digest)
	}
	return nil
}

func suffix(v string) string {
	if v == "" {
		return ""
	}
	return "/" + v
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n   ") + "\n"
}
