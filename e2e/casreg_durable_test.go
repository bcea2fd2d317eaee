//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestCASRegistryWritesDurably traces img registry's system calls (strace)
// through a push: every manifest, tag and size file it renames into place
// was fsynced first, and its directory after, so a power cut never leaves
// a tag naming an empty or half-written file.
func TestCASRegistryWritesDurably(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Fatalf("strace is not installed (tools/setup.sh installs it): %v", err)
	}
	casd, err := harness.StartCasd(harness.CasdOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	img, err := harness.ImgBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	trace := filepath.Join(dir, "trace")
	cmd := exec.Command(strace, "-f", "-y", "-qq", "-o", trace, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2",
		img, "registry", "--reapi-endpoint", "grpc://"+casd.Direct(), "--port", "0", "--data-dir", data)
	// Its own process group: SIGTERM goes to the registry, which drains and
	// exits, and then strace ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	var line string
	if _, err := fmt.Fscanln(stdout, &line, &line); err != nil {
		t.Fatalf("no address from the registry: %v", err)
	}
	addr := line
	image, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(addr+"/e2e/durable:v1", name.Insecure)
	for start := time.Now(); ; {
		if err = remote.Write(ref, image); err == nil || time.Since(start) > 10*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	cmd.Wait()

	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// With -y, strace shows each descriptor's path: fsync(7</dir/.tmp-1>).
	fsyncRE := regexp.MustCompile(`fsync\(\d+<([^>]+)>\)\s+= 0`)
	renameRE := regexp.MustCompile(`rename(?:at2?)?\((?:[^,]+, )?"([^"]+)", (?:[^,]+, )?"([^"]+)"`)
	synced := map[string][]int{} // path -> line numbers of its fsyncs
	type rename struct {
		from, to string
		line     int
	}
	var renames []rename
	for i, l := range strings.Split(string(b), "\n") {
		if m := fsyncRE.FindStringSubmatch(l); m != nil {
			synced[m[1]] = append(synced[m[1]], i)
		}
		if m := renameRE.FindStringSubmatch(l); m != nil && strings.HasPrefix(m[2], data) {
			renames = append(renames, rename{m[1], m[2], i})
		}
	}
	if len(renames) < 5 {
		t.Fatalf("only %d renames into the data directory traced:\n%s", len(renames), tailLines(string(b), 20))
	}
	for _, r := range renames {
		before, after := false, false
		for _, at := range synced[r.from] {
			before = before || at < r.line
		}
		for _, at := range synced[filepath.Dir(r.to)] {
			after = after || at > r.line
		}
		if !before || !after {
			t.Errorf("%s renamed to %s with the file synced first: %v, the directory after: %v", r.from, r.to, before, after)
		}
	}
	t.Logf("%d renames into the data directory, each synced: %s", len(renames), strconv.Quote(renames[len(renames)-1].to))
}
