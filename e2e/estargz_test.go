//go:build e2e

package e2e

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/layer/estargz"
)

// checkEStargzLayers checks that every layer of a layout's image is gzip with
// the eStargz annotations, and that the estargz package verifies its TOC and
// every chunk against them. It returns the layers' descriptors.
func checkEStargzLayers(t *testing.T, layout string) []descriptor {
	t.Helper()
	var m manifest
	readJSON(t, blobPath(layout, rootOf(t, layout).Digest), &m)
	for i, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer %d: %s, want gzip", i, l.MediaType)
		}
		toc := l.Annotations[estargz.AnnotationTOCDigest]
		if toc == "" || l.Annotations[estargz.AnnotationUncompressedSize] == "" {
			t.Errorf("layer %d: annotations %v lack the TOC digest or the uncompressed size", i, l.Annotations)
			continue
		}
		f, err := os.Open(blobPath(layout, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		files, err := estargz.Verify(io.NewSectionReader(f, 0, l.Size), toc)
		f.Close()
		if err != nil || files == 0 {
			t.Errorf("layer %d (%s): the estargz verifier says %v (%d files)", i, l.Digest, err, files)
		}
	}
	return m.Layers
}

// tarNames lists the entry names of a tar (plain, gzip or zstd), in order.
func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(4)
	z, err := compress.NewReader(br, compress.Detect(head))
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	var names []string
	tr := tar.NewReader(z)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// eStargz layers: written from files and converted from a tar, verified by
// the estargz package, annotated in the manifest (also after a push), and
// run by runtimes that know nothing of eStargz: containerd and Docker.
func TestEStargz(t *testing.T) {
	layout := layoutOf(t, ws, "//estargz:image")
	layers := checkEStargzLayers(t, layout)
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2", len(layers))
	}
	names := tarNames(t, blobPath(layout, layers[1].Digest))
	got := strings.Join(names[:min(3, len(names))], " ")
	if want := "app/hello etc/hello/greeting.txt .prefetch.landmark"; got != want {
		t.Errorf("the app layer starts with %q; want the prioritized files, then the landmark: %q", got, want)
	}
	if got := tarNames(t, blobPath(layout, layers[0].Digest)); len(got) == 0 || got[0] != ".no.prefetch.landmark" {
		t.Errorf("the layer from a tar starts with %v, want the no-prefetch landmark", got)
	}
	out := runLayout(t, layout, "docker.io/e2e/estargz:v1")
	if want := "hello, rules_img from linux/amd64 args=estargz"; strings.TrimSpace(out) != want {
		t.Errorf("containerd: the container printed %q, want %q", out, want)
	}

	t.Run("push keeps the annotations", func(t *testing.T) {
		reg, err := harness.StartRegistry(harness.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Stop()
		if _, err := bazelRun(t, ws, "//estargz:push", nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		raw, err := harness.Crane("manifest", reg.Addr()+"/e2e/estargz:v1")
		if err != nil {
			t.Fatal(err)
		}
		var pushed manifest
		if err := json.Unmarshal([]byte(raw), &pushed); err != nil {
			t.Fatal(err)
		}
		for i, l := range pushed.Layers {
			if l.Annotations[estargz.AnnotationTOCDigest] != layers[i].Annotations[estargz.AnnotationTOCDigest] {
				t.Errorf("pushed layer %d: annotations %v, want the TOC digest %s", i, l.Annotations, layers[i].Annotations[estargz.AnnotationTOCDigest])
			}
		}
		if err := harness.VerifyImage(reg.Addr() + "/e2e/estargz:v1"); err != nil {
			t.Error(err)
		}
	})

	t.Run("docker runs it", func(t *testing.T) {
		d, err := harness.StartDocker("28")
		if err != nil {
			t.Fatal(err)
		}
		defer d.Stop()
		env := []string{"DOCKER_HOST=" + d.Host()}
		if a := d.ContainerdAddress(); a != "" {
			env = append(env, "CONTAINERD_ADDRESS="+a)
		}
		b := &harness.Bazel{Workspace: ws.Workspace, Env: env}
		if _, err := bazelRun(t, b, "//estargz:load", nil, "--daemon", "docker"); err != nil {
			t.Fatal(err)
		}
		got, err := d.Run("docker.io/e2e/estargz:v1")
		if err != nil || !strings.Contains(got, "args=estargz") {
			t.Fatalf("docker run: %v %q", err, got)
		}
	})

	t.Run("image_optimize rewrites an image as eStargz", func(t *testing.T) {
		opt := layoutOf(t, ws, "//estargz:optimized")
		if n := len(checkEStargzLayers(t, opt)); n != 2 {
			t.Errorf("%d layers, want 2", n)
		}
		out := runLayout(t, opt, "docker.io/e2e/estargz-optimized:v1")
		if want := "hello, rules_img from linux/amd64 args=one"; strings.TrimSpace(out) != want {
			t.Errorf("the container printed %q, want %q", out, want)
		}
	})
}
