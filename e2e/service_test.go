//go:build e2e

package e2e

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// service_image: two services in one package each get an index over one
// image per platform, a push, a load and a tarball, with no name clashes;
// the pushed index runs in containerd, the loaded image too.
func TestServiceImage(t *testing.T) {
	if _, err := ws.Must("build", "//services:all"); err != nil {
		t.Fatal(err)
	}
	indexes := map[string]string{}
	for _, svc := range []string{"api", "worker"} {
		layout := layoutOf(t, ws, "//services:"+svc)
		root := rootOf(t, layout)
		indexes[svc] = root.Digest
		var idx manifest
		readJSON(t, blobPath(layout, root.Digest), &idx)
		var got []string
		for _, m := range idx.Manifests {
			arch := m.Platform.OS + "/" + m.Platform.Architecture
			got = append(got, arch)
			// NAME_<platform> is the very image the index holds.
			own := descriptorOf(t, ws, "//services:"+svc+"_linux_"+m.Platform.Architecture)
			if own.Digest != m.Digest {
				t.Errorf("%s: //services:%s_linux_%s is %s, the index holds %s", svc, svc, m.Platform.Architecture, own.Digest, m.Digest)
			}
		}
		if strings.Join(got, " ") != "linux/amd64 linux/arm64" {
			t.Errorf("%s: index platforms %v, want linux/amd64 linux/arm64", svc, got)
		}
	}
	if indexes["api"] == indexes["worker"] {
		t.Errorf("two services, one index digest %s", indexes["api"])
	}

	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	for svc, tags := range map[string][]string{"api": {"v1"}, "worker": {"v1", "stable"}} {
		if _, err := bazelRun(t, ws, "//services:"+svc+"_push", nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		for _, tag := range tags {
			if _, digest, err := harness.RawManifest(reg.Addr(), "services/"+svc, tag); err != nil || digest != indexes[svc] {
				t.Errorf("services/%s:%s is %s (%v), want the index %s", svc, tag, digest, err, indexes[svc])
			}
		}
	}

	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrd.Stop)
	if out := pullAndRun(t, ctrd, reg.Addr()+"/services/api:v1", "service-api"); strings.TrimSpace(out) != "api serving on linux/amd64" {
		t.Errorf("pushed api printed %q", out)
	}
	b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
		"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
	}}
	if _, err := bazelRun(t, b, "//services:worker_load", nil, "--daemon", "containerd"); err != nil {
		t.Fatal(err)
	}
	if out, err := ctrd.Run("docker.io/services/worker:dev", "service-worker"); err != nil || strings.TrimSpace(out) != "worker working on linux/amd64" {
		t.Errorf("loaded worker: %v %q", err, out)
	}

	// NAME_tarball: a docker-save archive of the host's image, named as the load names it.
	tarballs, err := ws.OutputFiles("//services:api_tarball", "")
	if err != nil || len(tarballs) != 1 {
		t.Fatalf("api_tarball: %v %v", tarballs, err)
	}
	if tags := repoTags(t, tarballs[0]); strings.Join(tags, " ") != "docker.io/services/api:latest" {
		t.Errorf("api_tarball tags %v, want docker.io/services/api:latest", tags)
	}

	// A service without platforms is refused while loading, naming it.
	r := ws.Run("build", "//bad_service:all")
	if want := `service_image nowhere: platforms is empty: list platform labels`; r.Err == nil || !strings.Contains(r.Stderr, want) {
		t.Errorf("service_image without platforms: %v, want an error with %q\n%s", r.Err, want, tailLines(r.Stderr, 20))
	}
}

// repoTags reads the RepoTags of a docker-save tarball's manifest.json.
func repoTags(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no manifest.json: %v", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		b, _ := io.ReadAll(tr)
		if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 {
			t.Fatalf("%s: manifest.json: %v %s", path, err, b)
		}
		return m[0].RepoTags
	}
}

// The doors refuse what they cannot honour while loading, naming the
// macro, the target, the attribute and what to do instead.
func TestDoorRefusals(t *testing.T) {
	for pkg, want := range map[string]string{
		"bad_doors/oci_os":      `oci_image image: set both os and architecture (e.g. "linux" and "arm64"), or neither`,
		"bad_doors/oci_unknown": `oci_load load: loader is not supported by rules_img's rules_oci door: image_load finds containerd, Docker or podman itself`,
		"bad_doors/docker_debs": `container_image image: debs is not supported by rules_img's rules_docker door: extracting .deb files is not installing them`,
		"bad_doors/docker_push": `container_push push: format = "OCIv2": use "Docker" or "OCI"`,
	} {
		r := ws.Run("build", "//"+pkg+":all")
		if r.Err == nil || !strings.Contains(r.Stderr, want) {
			t.Errorf("//%s: %v, want an error with %q\n%s", pkg, r.Err, want, tailLines(r.Stderr, 15))
		}
	}
}
