//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/e2e/harness"
	"github.com/rules-img/rules_img/pkg/layer/estargz"
	"github.com/rules-img/rules_img/pkg/oci"
)

// lazyEnv is a registry behind a counting proxy that holds the lazy-pull
// images of //estargz/lazy: the eStargz one and its plain gzip twin.
type lazyEnv struct {
	reg    *harness.Registry
	proxy  *harness.Proxy
	layers map[string]oci.LayerMetadata // image name -> its one layer
}

// startLazyEnv pushes the images named ("estargz", "gzip").
func startLazyEnv(t *testing.T, images ...string) *lazyEnv {
	t.Helper()
	reg, proxy := startProxiedRegistry(t, harness.RegistryOptions{})
	e := &lazyEnv{reg: reg, proxy: proxy, layers: map[string]oci.LayerMetadata{}}
	for _, name := range images {
		if _, err := bazelRun(t, ws, "//estargz/lazy:push_"+name, nil, "--registry", reg.Addr()); err != nil {
			t.Fatal(err)
		}
		files, err := ws.OutputFiles("//estargz/lazy:"+name+"_layer", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".layer.json") {
				if e.layers[name], err = oci.ReadLayerMetadata(f); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return e
}

// ref names an image through the proxy, so its reads are counted.
func (e *lazyEnv) ref(name string) string { return e.proxy.Addr() + "/e2e/lazy-" + name + ":v1" }

// lazyRun pulls ref with the stargz snapshotter (ctr-remote rpull) into a
// fresh containerd and runs it; it returns the output and the time from the
// start of the pull to the end of the run.
func lazyRun(t testing.TB, ref, id string) (string, time.Duration) {
	t.Helper()
	sgz, err := harness.StartStargz()
	if err != nil {
		t.Fatal(err)
	}
	defer sgz.Stop()
	ctrd, err := harness.StartContainerdWith(harness.ContainerdOptions{Snapshotters: []*harness.Snapshotter{sgz}})
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop() // before the snapshotter: containerd unmounts through it
	start := time.Now()
	if out, err := ctrd.CtrRemote("images", "rpull", "--plain-http", ref); err != nil {
		t.Fatalf("%v\n%s\nsnapshotter log:\n%s", err, out, sgz.Log())
	}
	out, err := ctrd.CtrRemote("run", "--rm", "--snapshotter", "stargz", ref, id)
	if err != nil {
		t.Fatalf("%v\nsnapshotter log:\n%s", err, sgz.Log())
	}
	return out, time.Since(start)
}

// plainRun pulls ref into a fresh containerd with its ordinary snapshotter
// and runs it, timed the same way.
func plainRun(t testing.TB, ref, id string) (string, time.Duration) {
	t.Helper()
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	start := time.Now()
	if _, err := ctrd.Ctr("images", "pull", "--plain-http", "--snapshotter", "native", ref); err != nil {
		t.Fatal(err)
	}
	out, err := ctrd.Run(ref, id)
	if err != nil {
		t.Fatal(err)
	}
	return out, time.Since(start)
}

// An eStargz image with a 256 MiB layer, pulled lazily by a real stargz
// snapshotter: the container reads one small file, and the registry serves
// a small part of the layer. The same image pulls and runs in plain
// containerd and Docker, which read it as gzip.
func TestEStargzLazyPull(t *testing.T) {
	e := startLazyEnv(t, "estargz")
	l := e.layers["estargz"]
	if l.Annotations[estargz.AnnotationTOCDigest] == "" {
		t.Fatalf("the layer has no TOC digest annotation: %+v", l)
	}
	const want = "hello, rules_img from linux/amd64 args=lazy"

	e.proxy.Reset()
	out, took := lazyRun(t, e.ref("estargz"), "lazy-estargz")
	if strings.TrimSpace(out) != want {
		t.Errorf("the container printed %q, want %q", out, want)
	}
	fetched := e.proxy.Stats().BlobBytesOut[l.Digest]
	t.Logf("lazy pull and run: %v; %d of the layer's %d bytes fetched (%.2f%%)", took.Round(time.Millisecond), fetched, l.Size, 100*float64(fetched)/float64(l.Size))
	if fetched == 0 || fetched >= l.Size/10 {
		t.Errorf("the lazy run fetched %d of the layer's %d bytes; want some, and less than 10%%", fetched, l.Size)
	}

	t.Run("plain containerd", func(t *testing.T) {
		e.proxy.Reset()
		out, _ := plainRun(t, e.ref("estargz"), "plain-estargz")
		if strings.TrimSpace(out) != want {
			t.Errorf("the container printed %q, want %q", out, want)
		}
		if got := e.proxy.Stats().BlobBytesOut[l.Digest]; got != l.Size {
			t.Errorf("a plain pull fetched %d bytes of the layer, want all %d", got, l.Size)
		}
	})

	t.Run("docker", func(t *testing.T) {
		d, err := harness.StartDocker("28")
		if err != nil {
			t.Fatal(err)
		}
		defer d.Stop()
		// Docker trusts plain HTTP on loopback registries.
		if out, err := d.CLI("pull", e.ref("estargz")); err != nil {
			t.Fatalf("docker pull: %v\n%s", err, out)
		}
		got, err := d.Run(e.ref("estargz"))
		if err != nil || strings.TrimSpace(got) != want {
			t.Fatalf("docker run: %v %q", err, got)
		}
	})
}
