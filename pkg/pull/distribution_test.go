package pull

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/rules-img/rules_img/pkg/oci"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"
)

const distributionBinary = "/usr/bin/docker-registry"

// startDistribution runs the CNCF Distribution registry on a free loopback
// port and returns its host:port; it is stopped (by PID) when the test ends.
func startDistribution(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(distributionBinary); err != nil {
		t.Skipf("%s not installed", distributionBinary)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	content := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(distributionBinary, "serve", cfg)
	logFile, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logFile.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("registry did not come up on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPullFromDistribution(t *testing.T) {
	host := startDistribution(t)
	amd := platformImage(t, "linux", "amd64", "")
	arm := platformImage(t, "linux", "arm64", "v8")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	ref, err := name.ParseReference(host + "/team/base:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	p, err := Pull(context.Background(), Options{Registry: host, Repository: "team/base", Digest: digestOf(t, idx), Tag: "v1", OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Record.Manifests) != 2 || p.LayersDownloaded != 0 {
		t.Fatalf("pulled %+v", p)
	}
	// A shallow layer can be fetched later from its recorded source.
	l := p.Record.Manifests[1].Layers[2]
	meta, err := oci.ReadLayerMetadata(filepath.Join(out, l.Metadata))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "layer")
	if err := FetchBlob(context.Background(), *meta.Source, meta.Digest, meta.Size, dst, FetchOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); oci.Digest(b) != meta.Digest {
		t.Errorf("fetched blob has digest %s, want %s", oci.Digest(b), meta.Digest)
	}

	eager := t.TempDir()
	p, err = Pull(context.Background(), Options{Registry: host, Repository: "team/base", Digest: digestOf(t, idx), OutDir: eager, Eager: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, pm := range p.Record.Manifests {
		for _, l := range pm.Layers {
			checkBlobFile(t, eager, l.Blob, l.Digest)
		}
	}

	missing := "sha256:" + fmt.Sprintf("%064d", 7)
	_, err = Pull(context.Background(), Options{Registry: host, Repository: "team/base", Digest: missing, OutDir: t.TempDir()})
	imagetest.WantErr(t, err, "not found", "check repository and digest")
}
