package harness

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestPodman(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed; run tools/setup.sh")
	}
	image := tiniImage(t)
	p, err := NewPodman()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	for _, f := range p.Flags() {
		if strings.ContainsAny(f, " \t") {
			t.Errorf("flag %q has a space", f)
		}
	}
	if out, err := p.CLI("info"); err != nil || !strings.Contains(out, "graphDriverName: vfs") || !strings.Contains(out, p.Dir) {
		t.Fatalf("podman info: %v\n%s", err, out)
	}
	const ref = "docker.io/library/rie-tini:v1"
	if out, err := p.CLI("import", image, ref); err != nil {
		t.Fatal(err, out)
	}
	if out, err := p.Run(ref, "/tini", "--version"); err != nil || !strings.Contains(out, "tini version") {
		t.Errorf("run: %v %q", err, out)
	}
	p.Stop()
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", p.Dir, err)
	}
}
