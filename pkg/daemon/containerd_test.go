package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/internal/text"
	"github.com/rules-img/rules_img/pkg/oci"
	"google.golang.org/grpc/metadata"
)

// testContainerd is a containerd of the test's own, on temp sockets.
type testContainerd struct {
	socket string
	ns     string
	ctrBin string
	log    *bytes.Buffer
}

// containerdBins lists the containerd builds to test against, by name: the
// one on PATH (Debian's 1.6) and, when tools/setup.sh unpacked it, sid's 2.x.
// Their ingest handling differs, so behaviour that depends on it is tested
// against each.
func containerdBins() map[string]string {
	bins := map[string]string{}
	if p, err := exec.LookPath("containerd"); err == nil {
		bins["path"] = filepath.Dir(p)
	}
	cache := os.Getenv("RULES_IMG_CACHE")
	if cache == "" {
		cache = "/var/cache/rules_img"
	}
	if dir := filepath.Join(cache, "docker28", "usr", "bin"); fileExists(filepath.Join(dir, "containerd")) {
		bins["sid"] = dir
	}
	return bins
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startContainerd boots a private containerd from PATH, or skips the test
// when it cannot (not root, or containerd/ctr not installed).
func startContainerd(t *testing.T) *testContainerd {
	t.Helper()
	p, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd is not installed")
	}
	return startContainerdIn(t, filepath.Dir(p))
}

// startContainerdIn boots the containerd and ctr found in binDir.
func startContainerdIn(t *testing.T, binDir string) *testContainerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	bin := filepath.Join(binDir, "containerd")
	ctrBin := filepath.Join(binDir, "ctr")
	if !fileExists(ctrBin) {
		t.Skipf("no ctr beside %s", bin)
	}
	dir := t.TempDir()
	// Unix socket paths are limited to 108 bytes: keep them short.
	sockDir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	c := &testContainerd{socket: filepath.Join(sockDir, "c.sock"), ns: "rules-img-test", ctrBin: ctrBin, log: &bytes.Buffer{}}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.socket, filepath.Join(sockDir, "t.sock"), filepath.Join(sockDir, "d.sock"))
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if conn, err := net.Dial("unix", c.socket); err == nil {
			conn.Close()
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not open %s; log:\n%s", c.socket, c.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *testContainerd) ctr(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(c.ctrBin, append([]string{"-a", c.socket, "-n", c.ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (c *testContainerd) options(tags ...string) (Options, *bytes.Buffer) {
	var progress bytes.Buffer
	return Options{Daemon: "containerd", Tags: tags, ContainerdAddress: c.socket, ContainerdNamespace: c.ns,
		Progress: &progress, Label: "//test:image"}, &progress
}

func TestLoadIntoContainerd(t *testing.T) {
	c := startContainerd(t)
	ctx := context.Background()
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "hello", "hello from rules_img\n"))
	img := imagetest.Index(t, m)
	img.Index, img.IndexDigest = nil, ""

	opts, progress := c.options("hello:v1", "registry.example/app:dev")
	res, err := Load(ctx, img, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress:\n%s", progress)
	wantDaemon := fmt.Sprintf("containerd (unix://%s, namespace %s)", c.socket, c.ns)
	if res.Daemon != wantDaemon || res.Digest != m.Digest || res.BlobsWritten != 3 || res.BlobsSkipped != 0 ||
		strings.Join(res.Names, ",") != "docker.io/library/hello:v1,registry.example/app:dev" {
		t.Errorf("first load: %+v", res)
	}
	if want := m.Layers[0].Size + int64(len(m.Config)) + int64(len(m.Raw)); res.BytesWritten != want {
		t.Errorf("BytesWritten = %d, want %d", res.BytesWritten, want)
	}
	if !strings.Contains(progress.String(), "wrote layer "+text.ShortDigest(m.Layers[0].Digest)) {
		t.Errorf("progress lacks the layer line:\n%s", progress)
	}

	// Give GC a moment after the lease went: the labels must keep it all.
	time.Sleep(500 * time.Millisecond)
	images := c.ctr(t, "images", "ls")
	for _, n := range res.Names {
		if !strings.Contains(images, n) {
			t.Errorf("ctr images ls lacks %s:\n%s", n, images)
		}
	}
	if !strings.Contains(images, m.Digest) {
		t.Errorf("ctr images ls does not show target %s:\n%s", m.Digest, images)
	}
	content := c.ctr(t, "content", "ls")
	for _, d := range []string{m.Layers[0].Digest, m.ConfigDigest, m.Digest} {
		if !strings.Contains(content, d) {
			t.Errorf("ctr content ls lacks %s:\n%s", d, content)
		}
	}
	if !strings.Contains(content, "containerd.io/gc.ref.content.config="+m.ConfigDigest) ||
		!strings.Contains(content, "containerd.io/gc.ref.content.l.0="+m.Layers[0].Digest) {
		t.Errorf("the manifest lacks its GC labels:\n%s", content)
	}
	if leases := c.ctr(t, "leases", "ls"); strings.Contains(leases, "rules-img-load-") {
		t.Errorf("the lease was left behind:\n%s", leases)
	}

	// Again: everything is there already.
	res, err = Load(ctx, img, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsWritten != 0 || res.BlobsSkipped != 3 || res.BytesWritten != 0 {
		t.Errorf("second load: %+v", res)
	}

	// The same tag moved to another image updates the record.
	m2 := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "hello", "hello from rules_img\n"), imagetest.GzipLayer(t, "more", "v2\n"))
	img2 := imagetest.Index(t, m2)
	img2.Index, img2.IndexDigest = nil, ""
	opts2, _ := c.options("hello:v1")
	res, err = Load(ctx, img2, opts2)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsSkipped != 1 || res.BlobsWritten != 3 {
		t.Errorf("third load: %+v", res)
	}
	if out := c.ctr(t, "images", "ls", "name==docker.io/library/hello:v1"); !strings.Contains(out, m2.Digest) {
		t.Errorf("hello:v1 was not moved to %s:\n%s", m2.Digest, out)
	}
}

func TestLoadIndexIntoContainerd(t *testing.T) {
	c := startContainerd(t)
	amd := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "amd64"))
	arm := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "arm64"}, imagetest.GzipLayer(t, "a", "arm64"))
	opts, _ := c.options("multi:latest")
	opts.Platform = "linux/arm64/v8"
	res, err := Load(context.Background(), imagetest.Index(t, amd, arm), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != arm.Digest {
		t.Errorf("loaded %s, want the arm64 manifest %s", res.Digest, arm.Digest)
	}
	if out := c.ctr(t, "images", "ls"); !strings.Contains(out, arm.Digest) {
		t.Errorf("ctr images ls:\n%s", out)
	}
}

// Several platforms go into containerd under one name: the built index when
// all are asked for, else an index of the chosen ones; every platform's
// content stays after GC, and `ctr images check` finds the image complete.
func TestLoadPlatformsIntoContainerd(t *testing.T) {
	c := startContainerd(t)
	amd := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "amd64"))
	arm := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "arm64"}, imagetest.GzipLayer(t, "a", "arm64"))
	ppc := imagetest.Manifest(t, oci.Platform{OS: "linux", Architecture: "ppc64le"}, imagetest.GzipLayer(t, "a", "ppc64le"))
	img := imagetest.Index(t, amd, arm, ppc)

	opts, _ := c.options("multi:all")
	opts.Platform = "all"
	res, err := Load(context.Background(), img, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != img.IndexDigest || res.BlobsWritten != 10 {
		t.Errorf("all: loaded %s with %d blobs, want the built index %s and 10 blobs", res.Digest, res.BlobsWritten, img.IndexDigest)
	}

	opts, _ = c.options("multi:two")
	opts.Platform = "linux/arm64, linux/amd64"
	res, err = Load(context.Background(), img, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest == img.IndexDigest || res.BlobsWritten != 1 || res.BlobsSkipped != 6 {
		t.Errorf("two: %+v: want a new index (the only blob written) over the two manifests", res)
	}
	time.Sleep(500 * time.Millisecond)
	content := c.ctr(t, "content", "ls")
	for _, d := range []string{amd.Digest, arm.Digest, amd.Layers[0].Digest, arm.Layers[0].Digest, res.Digest} {
		if !strings.Contains(content, d) {
			t.Errorf("ctr content ls lacks %s:\n%s", d, content)
		}
	}
	for _, name := range []string{"docker.io/library/multi:all", "docker.io/library/multi:two"} {
		if out := c.ctr(t, "images", "check", "name=="+name); !strings.Contains(out, "complete") {
			t.Errorf("ctr images check %s:\n%s", name, out)
		}
	}

	// One name, one platform, for daemons that keep a single one.
	opts, _ = c.options("multi:docker")
	opts.Daemon, opts.Platform = "podman", "all"
	if _, err := Load(context.Background(), img, opts); err == nil {
		t.Errorf("several platforms into podman: no error")
	}
}

// An interrupted earlier write is resumed; one holding other bytes is
// restarted.
func TestContainerdResumesWrites(t *testing.T) {
	c := startContainerd(t)
	ctx := context.Background()
	big := imagetest.GzipLayer(t, "big", strings.Repeat("some text that gzip shrinks a bit ", 200000))
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, big)
	img := imagetest.Index(t, m)
	img.Index, img.IndexDigest = nil, ""

	conn, err := dialContainerd(ctx, c.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := int64(len(big.Blob) / 2)
	partial := func(data []byte) {
		t.Helper()
		wctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "containerd-namespace", c.ns))
		defer cancel()
		stream, err := contentapi.NewContentClient(conn.conn).Write(wctx)
		if err != nil {
			t.Fatal(err)
		}
		ref := "rules-img-" + m.Layers[0].Digest
		for _, req := range []*contentapi.WriteContentRequest{
			{Action: contentapi.WriteAction_STAT, Ref: ref, Total: m.Layers[0].Size, Expected: m.Layers[0].Digest},
			{Action: contentapi.WriteAction_WRITE, Ref: ref, Data: data},
		} {
			if err := stream.Send(req); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		stream.CloseSend()
		// containerd may still hold the ref for a moment: the loader waits.
	}

	partial(big.Blob[:half])
	opts, progress := c.options("big:v1")
	res, err := Load(ctx, img, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.log)
	}
	if want := int64(len(big.Blob)) - half + int64(len(m.Config)) + int64(len(m.Raw)); res.BytesWritten != want {
		t.Errorf("resumed load wrote %d bytes, want %d:\n%s", res.BytesWritten, want, progress)
	}
	if !strings.Contains(progress.String(), "resuming layer") {
		t.Errorf("progress does not mention the resume:\n%s", progress)
	}

	// Now a partial write of other bytes: the commit fails and the loader
	// starts over.
	c.ctr(t, "images", "rm", "--sync", "docker.io/library/big:v1")
	if out := c.ctr(t, "content", "ls", "-q"); strings.Contains(out, m.Layers[0].Digest) {
		t.Fatalf("GC left the layer after the image went:\n%s", out)
	}
	partial(bytes.Repeat([]byte{'x'}, int(half)))
	progress.Reset()
	res, err = Load(ctx, img, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.log)
	}
	if want := int64(len(big.Blob)) + int64(len(m.Config)) + int64(len(m.Raw)); res.BlobsWritten != 3 || res.BytesWritten != want ||
		!strings.Contains(progress.String(), "resuming layer") {
		t.Errorf("restarted load: %+v, want %d bytes:\n%s", res, want, progress)
	}
}

// A build output is only measured by its opener; when its bytes changed
// after the build, containerd's digest check at commit refuses it, and no
// image name is written.
func TestContainerdRefusesChangedOutput(t *testing.T) {
	bins := containerdBins()
	if len(bins) == 0 {
		t.Skip("containerd is not installed")
	}
	for name, dir := range bins {
		t.Run(name, func(t *testing.T) { testRefusesChangedOutput(t, startContainerdIn(t, dir)) })
	}
}

func testRefusesChangedOutput(t *testing.T, c *testContainerd) {
	t.Log(c.ctr(t, "version"))
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "changed", "bytes that will change\n"))
	r, err := m.Layers[0].Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	changed, _ := io.ReadAll(r)
	changed[len(changed)/2] ^= 0xff
	l := m.Layers[0]
	m.Layers[0].Open = func(context.Context) (io.ReadCloser, error) {
		return image.CheckLength(io.NopCloser(bytes.NewReader(changed)), l.Digest, l.Size, "output"), nil
	}
	img := imagetest.Index(t, m)
	img.Index, img.IndexDigest = nil, ""
	opts, _ := c.options("changed:v1")
	_, err = Load(context.Background(), img, opts)
	t.Logf("error: %v", err)
	if err == nil || !strings.Contains(err.Error(), l.Digest) || !strings.Contains(err.Error(), "bazel run") {
		t.Fatalf("a changed layer was loaded, or the error does not name it: %v", err)
	}
	if images := c.ctr(t, "images", "ls"); strings.Contains(images, "changed:v1") {
		t.Errorf("image name written after a failed load:\n%s", images)
	}
	if ingests := c.ctr(t, "content", "active"); strings.Contains(ingests, l.Digest) {
		t.Errorf("the wrong bytes stay in an ingest:\n%s", ingests)
	}
}

func TestContainerdErrors(t *testing.T) {
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "b"))
	img := imagetest.Index(t, m)
	missing := filepath.Join(t.TempDir(), "none.sock")
	_, err := Load(context.Background(), img, Options{Daemon: "containerd", Tags: []string{"x"}, ContainerdAddress: missing, Label: "//pkg:img"})
	if err == nil || !strings.Contains(err.Error(), "//pkg:img: load into containerd: no containerd socket at "+missing) ||
		!strings.Contains(err.Error(), "CONTAINERD_ADDRESS") {
		t.Errorf("missing socket: %v", err)
	}
	// A socket nobody listens on.
	dir, err := os.MkdirTemp("/tmp", "sock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dead := filepath.Join(dir, "s")
	l, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	_, err = Load(context.Background(), img, Options{Daemon: "containerd", Tags: []string{"x"}, ContainerdAddress: "unix://" + dead})
	if err == nil || !strings.Contains(err.Error(), "refuses connections") {
		t.Errorf("dead socket: %v", err)
	}
}

func TestAutoListsEveryDaemonTried(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // neither docker nor podman
	t.Setenv("CONTAINERD_ADDRESS", filepath.Join(t.TempDir(), "none.sock"))
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "b"))
	_, err := Load(context.Background(), imagetest.Index(t, m), Options{Tags: []string{"x"}})
	if err == nil {
		t.Fatal("auto found a daemon")
	}
	for _, want := range []string{"containerd: no containerd socket", "docker: the docker client is not on PATH", "podman: podman is not on PATH"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
