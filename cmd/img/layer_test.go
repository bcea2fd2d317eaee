package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
)

// TestLayerHelperProcess is not a test: layerExec re-runs the test binary
// with IMG_LAYER_TEST_MAIN=1 so it behaves as the img binary, which works
// without a Go toolchain (e.g. under bazel test).
func TestLayerHelperProcess(t *testing.T) {
	if os.Getenv("IMG_LAYER_TEST_MAIN") != "1" {
		t.Skip("helper process")
	}
	i := 0
	for i < len(os.Args) && os.Args[i] != "--" {
		i++
	}
	os.Args = append([]string{"img"}, os.Args[i+1:]...)
	main()
	os.Exit(0)
}

func layerExec(t *testing.T, args ...string) (stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestLayerHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "IMG_LAYER_TEST_MAIN=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return errb.String(), 0
}

// layerFixture writes two source files and a spec referencing them.
func layerFixture(t *testing.T, dir string, missing bool) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "tree", "sub"), 0o755)
	for name, c := range map[string]string{"server": "#!/bin/sh\necho hi\n", "tree/sub/data.txt": "data"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	server := filepath.Join(src, "server")
	if missing {
		server = filepath.Join(src, "not-built")
	}
	spec := map[string]any{
		"target":                    "//app:layer",
		"create_parent_directories": true,
		"default_metadata":          map[string]any{"mode": "0644"},
		"file_metadata":             map[string]any{"/app/bin/server": map[string]any{"mode": "0755", "uid": 1000}},
		"entries": []map[string]string{
			{"path": "/app/bin/server", "type": "file", "source": server},
			{"path": "/app/static", "type": "tree", "source": filepath.Join(src, "tree")},
			{"path": "/etc/link", "type": "symlink", "target": "/app/bin/server"},
			{"path": "/var/empty", "type": "dir"},
		},
	}
	b, _ := json.Marshal(spec)
	p := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readLayerOutputs(t *testing.T, blob, meta string) ([]byte, oci.LayerMetadata) {
	t.Helper()
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	m, err := oci.ReadLayerMetadata(meta)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := "sha256:" + hex.EncodeToString(sum[:]); m.Digest != want || m.Size != int64(len(b)) {
		t.Errorf("metadata %s/%d does not match blob %s/%d", m.Digest, m.Size, want, len(b))
	}
	for _, p := range []string{blob + ".partial", meta + ".partial"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	return b, m
}

func noFiles(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after a failed run", p)
		}
	}
}

func TestLayerCmdSpec(t *testing.T) {
	dir := t.TempDir()
	spec := layerFixture(t, dir, false)
	blob, meta := filepath.Join(dir, "layer.tar.zst"), filepath.Join(dir, "layer.json")
	err := layerMain([]string{"--spec", spec, "--blob", blob, "--metadata", meta, "--compress", "zstd", "--level", "3", "--jobs", "2",
		"--annotation", "org.opencontainers.image.title=app", "--annotation", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	b, m := readLayerOutputs(t, blob, meta)
	if m.MediaType != oci.MediaTypeLayerZstd {
		t.Errorf("media type %s", m.MediaType)
	}
	if len(m.Annotations) != 2 || m.Annotations["org.opencontainers.image.title"] != "app" || m.Annotations["empty"] != "" {
		t.Errorf("annotations %v", m.Annotations)
	}
	r, err := compress.NewReader(bytes.NewReader(b), "zstd")
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(plain.Bytes())
	if m.DiffID != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("diffID %s does not match the decompressed blob", m.DiffID)
	}
	if !bytes.Contains(plain.Bytes(), []byte("app/static/sub/data.txt")) {
		t.Error("tree file missing from the layer")
	}

	// The same command in a separate process gives the same bytes.
	blob2, meta2 := filepath.Join(dir, "again.tar.zst"), filepath.Join(dir, "again.json")
	if stderr, code := layerExec(t, "layer", "--spec", spec, "--blob", blob2, "--metadata", meta2, "--compress", "zstd", "--level", "3", "--jobs", "1"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if b2, _ := readLayerOutputs(t, blob2, meta2); !bytes.Equal(b, b2) {
		t.Error("a second run (other process, other --jobs) gave different bytes")
	}
}

func TestLayerCmdDefaultsAndJobs(t *testing.T) {
	dir := t.TempDir()
	spec := layerFixture(t, dir, false)
	run := func(extra ...string) ([]byte, oci.LayerMetadata) {
		blob, meta := filepath.Join(dir, "l.tgz"), filepath.Join(dir, "l.json")
		if err := layerMain(append([]string{"--spec", spec, "--blob", blob, "--metadata", meta}, extra...)); err != nil {
			t.Fatal(err)
		}
		return readLayerOutputs(t, blob, meta)
	}
	def, m := run()
	if m.MediaType != oci.MediaTypeLayerGzip || m.Annotations != nil {
		t.Errorf("default run: %+v", m)
	}
	if again, _ := run("--compress", "gzip", "--level", "-1", "--jobs", "1"); !bytes.Equal(def, again) {
		t.Error("explicit defaults differ from defaults")
	}
	// --jobs 0 must not depend on the machine's CPU count.
	j0, _ := run("--jobs", "0")
	j2, _ := run("--jobs", "2")
	j7, _ := run("--jobs", "7")
	if !bytes.Equal(j0, j2) || !bytes.Equal(j2, j7) {
		t.Error("gzip output depends on --jobs > 1")
	}
}

func TestLayerCmdFromTar(t *testing.T) {
	dir := t.TempDir()
	spec := layerFixture(t, dir, false)
	gz, gzMeta := filepath.Join(dir, "in.tar.gz"), filepath.Join(dir, "in.json")
	if err := layerMain([]string{"--spec", spec, "--blob", gz, "--metadata", gzMeta}); err != nil {
		t.Fatal(err)
	}
	in, inMeta := readLayerOutputs(t, gz, gzMeta)

	blob, meta := filepath.Join(dir, "out"), filepath.Join(dir, "out.json")
	if err := layerMain([]string{"--from-tar", gz, "--blob", blob, "--metadata", meta, "--compress", "auto"}); err != nil {
		t.Fatal(err)
	}
	out, m := readLayerOutputs(t, blob, meta)
	if !bytes.Equal(in, out) || m.Digest != inMeta.Digest || m.DiffID != inMeta.DiffID || m.MediaType != oci.MediaTypeLayerGzip {
		t.Errorf("auto did not keep the input: %+v vs %+v", m, inMeta)
	}

	if err := layerMain([]string{"--from-tar", gz, "--blob", blob, "--metadata", meta, "--compress", "none"}); err != nil {
		t.Fatal(err)
	}
	if _, m := readLayerOutputs(t, blob, meta); m.DiffID != inMeta.DiffID || m.Digest != inMeta.DiffID || m.MediaType != oci.MediaTypeLayer {
		t.Errorf("recompressed to none: %+v, want digest = diffID = %s", m, inMeta.DiffID)
	}

	// Not a tar: fails and leaves nothing, not even the earlier outputs.
	bad := filepath.Join(dir, "bad.tar")
	os.WriteFile(bad, bytes.Repeat([]byte("not a tar "), 100), 0o644)
	err := layerMain([]string{"--from-tar", bad, "--blob", blob, "--metadata", meta})
	if err == nil || !strings.Contains(err.Error(), "not a tar") {
		t.Errorf("non-tar input: %v", err)
	}
	noFiles(t, blob, meta, blob+".partial", meta+".partial")
}

func TestLayerCmdFailureLeavesNoOutput(t *testing.T) {
	dir := t.TempDir()
	spec := layerFixture(t, dir, true)
	blob, meta := filepath.Join(dir, "layer.tgz"), filepath.Join(dir, "layer.json")
	// Stale outputs from an earlier run must not survive a failure either.
	os.WriteFile(blob, []byte("stale"), 0o644)
	os.WriteFile(meta, []byte("{}"), 0o644)
	stderr, code := layerExec(t, "layer", "--spec", spec, "--blob", blob, "--metadata", meta)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{"img layer: ", "//app:layer", "/app/bin/server", "not-built does not exist", "srcs"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not contain %q", stderr, want)
		}
	}
	noFiles(t, blob, meta, blob+".partial", meta+".partial")

	// An invalid level fails after the blob file was opened; still no output.
	spec = layerFixture(t, dir, false)
	err := layerMain([]string{"--spec", spec, "--blob", blob, "--metadata", meta, "--compress", "zstd", "--level", "9"})
	if err == nil || !strings.Contains(err.Error(), "1-4") {
		t.Errorf("bad level: %v", err)
	}
	noFiles(t, blob, meta, blob+".partial", meta+".partial")
}

func TestLayerCmdFlagErrors(t *testing.T) {
	dir := t.TempDir()
	spec := layerFixture(t, dir, false)
	out := []string{"--blob", filepath.Join(dir, "b"), "--metadata", filepath.Join(dir, "m")}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{out, "exactly one of --spec and --from-tar"},
		{append([]string{"--spec", spec, "--from-tar", spec}, out...), "exactly one of"},
		{[]string{"--spec", spec}, "--blob (or --compact) and --metadata are required"},
		{[]string{"--from-tar", spec, "--compact", "x", "--metadata", "m"}, "--compact takes a --spec layer"},
		{append([]string{"--spec", spec, "--compress", "auto"}, out...), "only works with --from-tar"},
		{append([]string{"--spec", spec, "--compress", "brotli"}, out...), "allowed: " + strings.Join(compress.Names(), ", ")},
		{append([]string{"--from-tar", spec, "--compress", "brotli"}, out...), "or auto"},
		{append([]string{"--spec", spec, "--level", "10"}, out...), "0-9"},
		{append([]string{"--spec", spec, "--jobs", "-1"}, out...), "--jobs"},
		{append([]string{"--spec", spec, "--annotation", "novalue"}, out...), "KEY=VALUE"},
		{append([]string{"--spec", spec, "--annotation", "a=1", "--annotation", "a=2"}, out...), "twice"},
		{append([]string{"--spec", spec, "extra"}, out...), "extra"},
		{append([]string{"--spec", filepath.Join(dir, "nope.json")}, out...), "nope.json"},
	} {
		err := layerMain(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("layer %q: %v, want error containing %q", tc.args, err, tc.want)
		}
		noFiles(t, filepath.Join(dir, "b"), filepath.Join(dir, "m"))
	}
}
