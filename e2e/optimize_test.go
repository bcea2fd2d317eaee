//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// image_optimize recompresses every layer not already in the wanted
// compression, keeps the config (same diffIDs), and the result runs.
func TestImageOptimize(t *testing.T) {
	manifestOf := func(layout string, d descriptor) manifest {
		var m manifest
		readJSON(t, blobPath(layout, d.Digest), &m)
		return m
	}
	src := layoutOf(t, ws, "//hello:image")
	opt := layoutOf(t, ws, "//optimize:image_zstd")
	before, after := manifestOf(src, rootOf(t, src)), manifestOf(opt, rootOf(t, opt))
	if after.Config.Digest != before.Config.Digest {
		t.Errorf("config %s, want the source's %s (the tars did not change)", after.Config.Digest, before.Config.Digest)
	}
	if len(after.Layers) != len(before.Layers) {
		t.Fatalf("%d layers, want %d", len(after.Layers), len(before.Layers))
	}
	for i, l := range after.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
			t.Errorf("layer %d: %s, want zstd", i, l.MediaType)
		}
		kept := before.Layers[i].MediaType == l.MediaType
		if kept != (l.Digest == before.Layers[i].Digest) {
			t.Errorf("layer %d: %s -> %s; a layer already in zstd keeps its bytes, the others are rewritten", i, before.Layers[i].Digest, l.Digest)
		}
	}
	out := runLayout(t, opt, "docker.io/library/optimized:e2e")
	if want := "hello, rules_img from linux/amd64 args=one"; strings.TrimSpace(out) != want {
		t.Errorf("container printed %q, want %q", out, want)
	}

	// An index: every platform's image, all gzip, configs unchanged.
	srcIdx := layoutOf(t, ws, "//hello:multiarch")
	optIdx := layoutOf(t, ws, "//optimize:multiarch_gzip")
	a, b := manifestOf(srcIdx, rootOf(t, srcIdx)), manifestOf(optIdx, rootOf(t, optIdx))
	if len(a.Manifests) != 2 || len(b.Manifests) != 2 {
		t.Fatalf("index manifests: %d and %d, want 2", len(a.Manifests), len(b.Manifests))
	}
	for i := range b.Manifests {
		if b.Manifests[i].Platform == nil || a.Manifests[i].Platform == nil || *b.Manifests[i].Platform != *a.Manifests[i].Platform {
			t.Errorf("manifest %d: platform %+v, want %+v", i, b.Manifests[i].Platform, a.Manifests[i].Platform)
		}
		m := manifestOf(optIdx, b.Manifests[i])
		if m.Config.Digest != manifestOf(srcIdx, a.Manifests[i]).Config.Digest {
			t.Errorf("manifest %d: config changed", i)
		}
		for j, l := range m.Layers {
			if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
				t.Errorf("manifest %d layer %d: %s, want gzip", i, j, l.MediaType)
			}
		}
	}
	skopeo(t, "inspect", "--raw", "oci:"+optIdx)
}
