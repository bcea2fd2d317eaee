//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestZstdLongLayer: compress = "zstd-long" finds a repeat that lies beyond
// zstd's window, writes an ordinary zstd layer, and containerd unpacks and
// runs the image (checking each layer's diffID as it does).
func TestZstdLongLayer(t *testing.T) {
	// Level 4, -c opt's: zstd-long's fastbuild level 3 does not search that far.
	level := []string{"--@rules_img//img/settings:compression_level=4"}
	if r := ws.Run(append([]string{"build", "//zstdlong:zstd_layer", "//zstdlong:zstd-long_layer"}, level...)...); r.Err != nil {
		t.Fatalf("build: %v\n%s", r.Err, tailLines(r.Stderr, 30))
	}
	size := map[string]int64{}
	for _, name := range []string{"zstd", "zstd-long"} {
		files, err := ws.OutputFiles("//zstdlong:"+name+"_layer", "", level...)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			MediaType string `json:"mediaType"`
			Size      int64  `json:"size"`
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".layer.json") {
				readJSON(t, f, &meta)
			} else if st, err := os.Stat(f); err != nil || !strings.HasSuffix(f, ".tar.zst") {
				t.Fatalf("%s: blob %s: %v", name, f, err)
			} else {
				size[name] = st.Size()
			}
		}
		if meta.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" || meta.Size != size[name] {
			t.Fatalf("%s: metadata %+v, blob of %d bytes", name, meta, size[name])
		}
	}
	// The 9 MiB repeat costs zstd a second copy; zstd-long a reference.
	if size["zstd-long"]*10 > size["zstd"]*6 {
		t.Errorf("zstd-long wrote %d bytes, zstd %d: the repeat beyond 8 MiB was not found", size["zstd-long"], size["zstd"])
	}
	t.Logf("18 MiB layer with a 9 MiB repeat, level 4: zstd %d bytes, zstd-long %d bytes", size["zstd"], size["zstd-long"])

	layout := layoutOf(t, ws, "//zstdlong:image", level...)
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	const name = "docker.io/library/zstdlong:e2e"
	if err := ctrd.ImportLayout(layout, name); err != nil {
		t.Fatal(err)
	}
	out, err := ctrd.Run(name, "zstdlong", "/app/hello", "x")
	if err != nil || !strings.Contains(out, "hello, rules_img from linux/amd64 args=x") {
		t.Fatalf("run: %v %q", err, out)
	}
}
