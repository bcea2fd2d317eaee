//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
	"github.com/rules-img/rules_img/pkg/oci"
)

// SOCI index manifest v2 on an image with a 256 MiB gzip layer
// (//estargz/lazy:soci): soci's own code reads the ztoc img wrote and finds
// it equal to its own; a real soci-snapshotter lazily pulls the image from
// CNCF Distribution and runs it, fetching a small part of the layer; plain
// containerd and Docker pull and run it whole.
func TestSociLazyPull(t *testing.T) {
	reg, proxy := startProxiedRegistry(t, harness.RegistryOptions{})
	for _, target := range []string{"push_soci", "push_soci_manifest"} {
		if _, err := bazelRun(t, ws, "//estargz/lazy:"+target, nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(ws.Workspace, "bazel-bin", "estargz", "lazy")
	layer, err := oci.ReadLayerMetadata(filepath.Join(bin, "gzip_layer.layer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx, image oci.Manifest
	var index oci.Index
	readJSON(t, filepath.Join(bin, "soci.index.json"), &index)
	readJSON(t, filepath.Join(bin, "soci_manifest.manifest.json"), &image)
	readJSON(t, filepath.Join(bin, "soci_manifest.soci_index.json"), &idx)

	t.Run("artifacts", func(t *testing.T) {
		if len(index.Manifests) != 4 {
			t.Fatalf("the index lists %d manifests, want two images and their SOCI indexes", len(index.Manifests))
		}
		entry := index.Manifests[2]
		if entry.ArtifactType != "application/vnd.amazon.soci.index.v2+json" ||
			entry.Annotations["com.amazon.soci.image-manifest-digest"] != index.Manifests[0].Digest ||
			entry.Platform == nil || !entry.Platform.Same(*index.Manifests[0].Platform) {
			t.Errorf("SOCI index entry %+v: want artifactType, the image's digest and platform", entry)
		}
		if image.Annotations["com.amazon.soci.index-digest"] != entry.Digest {
			t.Errorf("the image names SOCI index %q, the index lists %s", image.Annotations["com.amazon.soci.index-digest"], entry.Digest)
		}
		// Only the big layer gets a ztoc: the note is below soci_min_layer_size.
		// The amd64 image writes its own at 1 MiB spans; the arm64 one reuses
		// the layer's, written by the layer action at the default 4 MiB.
		var arm64 oci.Manifest
		readJSON(t, filepath.Join(bin, "soci_manifest_arm64.soci_index.json"), &arm64)
		for _, c := range []struct {
			m    oci.Manifest
			span string
			ztoc string
		}{{idx, "1048576", "soci_manifest.soci/1.ztoc"}, {arm64, "4194304", "gzip_layer.ztoc"}} {
			if c.m.Config.MediaType != "application/vnd.amazon.soci.index.v2+json" || len(c.m.Layers) != 1 ||
				c.m.Layers[0].Annotations["com.amazon.soci.image-layer-digest"] != layer.Digest ||
				c.m.Layers[0].Annotations["com.amazon.soci.span-size"] != c.span {
				t.Errorf("SOCI index %+v: want the v2 config and one ztoc, of %s at span %s", c.m, layer.Digest, c.span)
				continue
			}
			if z, err := os.ReadFile(filepath.Join(bin, c.ztoc)); err != nil || oci.Digest(z) != c.m.Layers[0].Digest {
				t.Errorf("SOCI index lists ztoc %s; %s is not it (%v)", c.m.Layers[0].Digest, c.ztoc, err)
			}
		}
		// The registry has all of it, for the index and the bare manifest.
		for _, repo := range []string{"e2e/lazy-soci", "e2e/lazy-soci-manifest"} {
			if out, err := harness.Crane("manifest", "--insecure", reg.Addr()+"/"+repo+"@"+entry.Digest); err != nil {
				t.Errorf("%s: the SOCI index is not in the registry: %v\n%s", repo, err, out)
			}
			if !blobExists(t, reg.Addr(), repo, idx.Layers[0].Digest) || !blobExists(t, reg.Addr(), repo, idx.Config.Digest) {
				t.Errorf("%s: the ztoc or the SOCI config is not in the registry", repo)
			}
		}
	})

	t.Run("ztoc as soci reads it", func(t *testing.T) {
		// soci's reader extracts every file of the layer through the ztoc's
		// checkpoints (zlib), and soci's own generator makes the same
		// checkpoints, span digests and table of contents.
		out, err := exec.Command(harness.SocidPath(), "ztoc-check",
			"--blob", filepath.Join(bin, "gzip_layer.tar.gz"),
			"--ztoc", filepath.Join(bin, "gzip_layer.ztoc"),
			"--span", "4194304").CombinedOutput()
		if err != nil {
			t.Fatalf("socid ztoc-check: %v\n%s", err, out)
		}
		var r struct {
			Files       int  `json:"files"`
			Checkpoints int  `json:"checkpoints"`
			SameTOC     bool `json:"same_toc"`
			SameZinfo   bool `json:"same_zinfo"`
			SameSpans   bool `json:"same_span_digests"`
			SameSizes   bool `json:"same_sizes"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		t.Logf("soci's check: %s", strings.TrimSpace(string(out)))
		if r.Files != 3 || r.Checkpoints < 60 || !r.SameTOC || !r.SameZinfo || !r.SameSpans || !r.SameSizes {
			t.Errorf("want 3 files, 64 checkpoints and every part equal to soci's own ztoc, got %+v", r)
		}
	})

	const want = "hello, rules_img from linux/amd64 args=lazy"
	ref := proxy.Addr() + "/e2e/lazy-soci:v1"
	t.Run("lazy", func(t *testing.T) {
		proxy.Reset()
		out, took := sociRun(t, ref, "lazy-soci")
		if strings.TrimSpace(out) != want {
			t.Errorf("the container printed %q, want %q", out, want)
		}
		stats := proxy.Stats()
		fetched := stats.BlobBytesOut[layer.Digest]
		t.Logf("lazy pull and run with soci-snapshotter: %v; %d of the layer's %d bytes fetched (%.2f%%), ztoc %d bytes",
			took.Round(time.Millisecond), fetched, layer.Size, 100*float64(fetched)/float64(layer.Size), stats.BlobBytesOut[idx.Layers[0].Digest])
		if stats.BlobBytesOut[idx.Layers[0].Digest] == 0 {
			t.Errorf("the snapshotter fetched no ztoc: it did not pull lazily")
		}
		if fetched == 0 || fetched >= layer.Size/10 {
			t.Errorf("the lazy run fetched %d of the layer's %d bytes; want some, and less than 10%%", fetched, layer.Size)
		}
	})

	t.Run("plain containerd", func(t *testing.T) {
		proxy.Reset()
		out, _ := plainRun(t, ref, "plain-soci")
		if strings.TrimSpace(out) != want {
			t.Errorf("the container printed %q, want %q", out, want)
		}
		if got := proxy.Stats().BlobBytesOut[layer.Digest]; got != layer.Size {
			t.Errorf("a plain pull fetched %d bytes of the layer, want all %d", got, layer.Size)
		}
	})

	t.Run("load into containerd", func(t *testing.T) {
		// The load carries the SOCI indexes, as the index lists them, and
		// the image runs from the daemon's own store.
		ctrd, err := harness.StartContainerd()
		if err != nil {
			t.Fatal(err)
		}
		defer ctrd.Stop()
		b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
			"CONTAINERD_ADDRESS=" + ctrd.Socket, "CONTAINERD_NAMESPACE=" + ctrd.Namespace,
		}}
		// Every platform: the load names the index, which lists the SOCI
		// indexes. (One platform names its manifest alone, and a local
		// image has no use for them.)
		if _, err := bazelRun(t, b, "//estargz/lazy:load_soci", nil, "--daemon", "containerd", "--platform", "all"); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{index.Manifests[2].Digest, index.Manifests[3].Digest, idx.Layers[0].Digest} {
			if out, err := ctrd.Ctr("content", "get", d); err != nil || oci.Digest([]byte(out)) != d {
				t.Errorf("containerd lacks %s of the SOCI index: %v", d, err)
			}
		}
		out, err := ctrd.Run("docker.io/e2e/soci:v1", "loaded-soci")
		if err != nil || strings.TrimSpace(out) != want {
			t.Errorf("the loaded image printed %q (%v), want %q", out, err, want)
		}
	})

	t.Run("docker", func(t *testing.T) {
		d, err := harness.StartDocker("28")
		if err != nil {
			t.Fatal(err)
		}
		defer d.Stop()
		if out, err := d.CLI("pull", ref); err != nil {
			t.Fatalf("docker pull: %v\n%s", err, out)
		}
		got, err := d.Run(ref)
		if err != nil || strings.TrimSpace(got) != want {
			t.Fatalf("docker run: %v %q", err, got)
		}
	})
}

// sociRun pulls ref with soci-snapshotter (`socid pull`, as `soci image
// rpull` does) into a fresh containerd and runs it; it returns the output and
// the time from the start of the pull to the end of the run.
func sociRun(t testing.TB, ref, id string) (string, time.Duration) {
	t.Helper()
	soci, err := harness.NewSoci()
	if err != nil {
		t.Fatal(err)
	}
	defer soci.Stop()
	ctrd, err := harness.StartContainerdWith(harness.ContainerdOptions{Snapshotters: []*harness.Snapshotter{soci}})
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop() // before the snapshotter: containerd unmounts through it
	if err := soci.StartFor(ctrd.Socket); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if out, err := exec.Command(harness.SocidPath(), "pull", "--containerd", ctrd.Socket, "--namespace", ctrd.Namespace, ref).CombinedOutput(); err != nil {
		t.Fatalf("socid pull: %v\n%s\nsnapshotter log:\n%s", err, out, soci.Log())
	}
	out, err := ctrd.Ctr("run", "--rm", "--snapshotter", "soci", ref, id)
	if err != nil {
		t.Fatalf("%v\nsnapshotter log:\n%s", err, soci.Log())
	}
	return out, time.Since(start)
}
