//go:build e2e

// The e2e tests build e2e/workspace, a workspace that uses rules_img through
// local_path_override exactly as a user's would, and check what comes out with
// real consumers: containerd imports and runs the images, skopeo reads them.
package e2e

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/rules-img/rules_img/e2e/harness"
)

var ws = &harness.Bazel{Workspace: filepath.Join(harness.RepoRoot(), "e2e", "workspace")}

func TestMain(m *testing.M) {
	// Workspaces use rules_img as a release ships it, with its prebuilt img,
	// so no output base compiles img; TestInstalledAsAUser and the source
	// comparison there keep the source path tested.
	rel, err := harness.MakeRelease()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	harness.UseRelease(rel)
	code := m.Run()
	ws.Shutdown()
	rel.Remove()
	os.Exit(code)
}

// layoutOf builds target's OCI layout and returns its directory.
func layoutOf(t *testing.T, b *harness.Bazel, target string, flags ...string) string {
	t.Helper()
	args := append([]string{"build", target, "--output_groups=+oci_layout"}, flags...)
	if _, err := b.Must(args...); err != nil {
		t.Fatal(err)
	}
	files, err := b.OutputFiles(target, "oci_layout", flags...)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("%s: want one oci_layout output, got %v", target, files)
	}
	return files[0]
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

type manifest struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"`
}

// builtManifest builds an image_manifest target in ws and reads its manifest.
func builtManifest(t *testing.T, target string) manifest {
	t.Helper()
	var m manifest
	files, err := ws.OutputFiles(target, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".manifest.json") {
			readJSON(t, f, &m)
		}
	}
	if len(m.Layers) == 0 {
		t.Fatalf("%s: no manifest with layers among %v", target, files)
	}
	return m
}

type config struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint   []string
		Cmd          []string
		Env          []string
		WorkingDir   string
		User         string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Labels       map[string]string
	} `json:"config"`
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

func blobPath(layout, digest string) string {
	return filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// rootOf returns the single descriptor in a layout's index.json.
func rootOf(t *testing.T, layout string) descriptor {
	t.Helper()
	var idx manifest
	readJSON(t, filepath.Join(layout, "index.json"), &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("%s/index.json: want one root descriptor, got %d", layout, len(idx.Manifests))
	}
	return idx.Manifests[0]
}

// runLayout imports an OCI layout into a containerd of its own as name and
// returns what one container of it prints.
func runLayout(t *testing.T, layout, name string) string {
	t.Helper()
	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	if err := ctrd.ImportLayout(layout, name); err != nil {
		t.Fatal(err)
	}
	id := strings.NewReplacer("/", "-", ":", "-", ".", "-").Replace(name)
	out, err := ctrd.Run(name, id)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("skopeo", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A static Go binary image from scratch is imported into containerd and run.
func TestImageRunsInContainerd(t *testing.T) {
	layout := layoutOf(t, ws, "//hello:image")

	// skopeo reads the layout and sees the config the rule asked for.
	var cfg config
	if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--config", "oci:"+layout)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform = %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/app/hello" || strings.Join(cfg.Config.Cmd, " ") != "one" {
		t.Errorf("entrypoint %v cmd %v", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok || cfg.Config.WorkingDir != "/app" || cfg.Config.Labels["org.example.team"] != "e2e" {
		t.Errorf("config = %+v", cfg.Config)
	}
	if len(cfg.RootFS.DiffIDs) != 2 {
		t.Errorf("diff_ids = %v, want 2", cfg.RootFS.DiffIDs)
	}

	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	const name = "docker.io/library/hello:e2e"
	if err := ctrd.ImportLayout(layout, name); err != nil {
		t.Fatal(err)
	}
	if out, err := ctrd.Ctr("images", "check"); err != nil || !strings.Contains(out, "complete") {
		t.Fatalf("ctr images check: %v\n%s", err, out)
	}
	out, err := ctrd.Run(name, "hello-default")
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello, rules_img from linux/amd64 args=one"; strings.TrimSpace(out) != want {
		t.Errorf("container printed %q, want %q", out, want)
	}
	// The symlink from the layer resolves inside the container.
	out, err = ctrd.Run(name, "hello-link", "/usr/bin/hello", "via-link")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "args=via-link") {
		t.Errorf("container via symlink printed %q", out)
	}
}

// The index holds an amd64 and an arm64 manifest, each with a binary built
// for its platform by the split transition.
func TestMultiArchIndex(t *testing.T) {
	layout := layoutOf(t, ws, "//hello:multiarch")
	root := rootOf(t, layout)
	if root.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("root media type %s", root.MediaType)
	}
	var index manifest
	readJSON(t, blobPath(layout, root.Digest), &index)
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	seen := map[string]bool{}
	for _, m := range index.Manifests {
		if m.Platform == nil || m.Platform.OS != "linux" {
			t.Fatalf("manifest %s has platform %+v", m.Digest, m.Platform)
		}
		arch := m.Platform.Architecture
		seen[arch] = true
		var man manifest
		readJSON(t, blobPath(layout, m.Digest), &man)
		var cfg config
		readJSON(t, blobPath(layout, man.Config.Digest), &cfg)
		if cfg.Architecture != arch {
			t.Errorf("%s manifest's config says %s", arch, cfg.Architecture)
		}
		app := man.Layers[len(man.Layers)-1]
		bin := fileFromLayer(t, blobPath(layout, app.Digest), app.MediaType, "app/hello")
		f, err := elf.NewFile(strings.NewReader(string(bin)))
		if err != nil {
			t.Fatalf("%s: app/hello is not ELF: %v", arch, err)
		}
		if f.Machine != machines[arch] {
			t.Errorf("%s image holds a %v binary, want %v", arch, f.Machine, machines[arch])
		}
	}
	if !seen["amd64"] || !seen["arm64"] || len(index.Manifests) != 2 {
		t.Errorf("index platforms = %v, want amd64 and arm64", seen)
	}
	// skopeo picks the arm64 image out of the index.
	out := skopeo(t, "inspect", "--override-arch", "arm64", "oci:"+layout)
	if !strings.Contains(out, `"Architecture": "arm64"`) {
		t.Errorf("skopeo --override-arch arm64 saw:\n%s", out)
	}
}

// fileFromLayer returns the content of one regular file in a layer blob.
func fileFromLayer(t *testing.T, blob, mediaType, name string) []byte {
	t.Helper()
	var found []byte
	walkLayer(t, blob, mediaType, func(h *tar.Header, r io.Reader) {
		if h.Name == name {
			found, _ = io.ReadAll(r)
		}
	})
	if found == nil {
		t.Fatalf("%s has no %s", blob, name)
	}
	return found
}

func walkLayer(t *testing.T, blob, mediaType string, fn func(*tar.Header, io.Reader)) {
	t.Helper()
	f, err := os.Open(blob)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(mediaType, "+gzip"):
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	case strings.HasSuffix(mediaType, "+zstd"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", blob, err)
		}
		fn(h, tr)
	}
}

// layer_from_tar keeps the tar's bytes with compress = "auto" and recompresses
// otherwise; both describe the same uncompressed tar.
func TestLayerFromTar(t *testing.T) {
	layout := layoutOf(t, ws, "//tarlayer:image")
	var man manifest
	readJSON(t, blobPath(layout, rootOf(t, layout).Digest), &man)
	var cfg config
	readJSON(t, blobPath(layout, man.Config.Digest), &cfg)
	if len(man.Layers) != 2 {
		t.Fatalf("layers = %d, want 2", len(man.Layers))
	}
	// Request the input tar itself: with a disk cache, Bazel only downloads
	// the outputs of targets named on the command line.
	if _, err := ws.Must("build", "//tarlayer:make_tar"); err != nil {
		t.Fatal(err)
	}
	src, err := ws.OutputFiles("//tarlayer:make_tar", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256File(t, src[0]); man.Layers[0].Digest != got || man.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Errorf("kept layer = %s %s, want the input's bytes %s as gzip", man.Layers[0].MediaType, man.Layers[0].Digest, got)
	}
	if man.Layers[1].MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Errorf("recompressed layer media type %s", man.Layers[1].MediaType)
	}
	if cfg.RootFS.DiffIDs[0] != cfg.RootFS.DiffIDs[1] {
		t.Errorf("diff_ids differ for the same tar: %v", cfg.RootFS.DiffIDs)
	}
	got := fileFromLayer(t, blobPath(layout, man.Layers[1].Digest), man.Layers[1].MediaType, "opt/tar/file.txt")
	if string(got) != "from-a-tar\n" {
		t.Errorf("file from recompressed layer = %q", got)
	}
	skopeo(t, "inspect", "oci:"+layout)
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// A directory output (tree artifact) goes under its image path with modes
// and symlinks intact.
func TestTreeArtifactLayer(t *testing.T) {
	if _, err := ws.Must("build", "//tree:layer"); err != nil {
		t.Fatal(err)
	}
	files, err := ws.OutputFiles("//tree:layer", "")
	if err != nil {
		t.Fatal(err)
	}
	var blob string
	for _, f := range files {
		if strings.HasSuffix(f, ".tar") {
			blob = f
		}
	}
	entries := map[string]*tar.Header{}
	var names []string
	walkLayer(t, blob, "application/vnd.oci.image.layer.v1.tar", func(h *tar.Header, _ io.Reader) {
		entries[h.Name] = h
		names = append(names, h.Name)
	})
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
	for _, dir := range []string{"opt/", "opt/gen/", "opt/gen/bin/", "opt/gen/share/doc/"} {
		if h := entries[dir]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("missing directory %s in %v", dir, names)
		}
	}
	// Modes inside a tree come from the rule, never from disk: run.sh gets
	// 0755 from file_metadata, README 0644 by default, although the tree
	// action made both executable.
	if h := entries["opt/gen/bin/run.sh"]; h == nil || h.Mode != 0o755 {
		t.Errorf("run.sh should be 0755 from file_metadata: %+v", h)
	}
	if h := entries["opt/gen/share/doc/README"]; h == nil || h.Mode != 0o644 {
		t.Errorf("README should be 0644, whatever its mode on disk: %+v", h)
	}
	// Identical files are stored once; the rest are hardlinks to the first
	// (README.copy is 0755 on disk, README not: same content, same header).
	if h := entries["opt/gen/share/doc/README.copy"]; h == nil || h.Typeflag != tar.TypeLink {
		t.Errorf("identical file not deduplicated as a hardlink: %+v", h)
	}
	// A symlink inside a directory output is stored as its content: Bazel's
	// caches hand such links back as plain files, and the layer must not
	// depend on whether the tree came from a cache.
	if h := entries["opt/gen/bin/readme-link"]; h == nil || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeLink) {
		t.Errorf("symlink inside the tree not stored as content: %+v", h)
	}
}

// Layer blobs never feed manifest or index actions: they read metadata only.
func TestManifestActionsReadOnlyMetadata(t *testing.T) {
	query := `mnemonic("ImageManifest|ImageIndex|ImageLayout", deps(//hello:multiarch) + deps(//tarlayer:image))`
	out, err := ws.Must("aquery", query, "--output=jsonproto", "--output_groups=+oci_layout")
	if err != nil {
		t.Fatal(err)
	}
	inputs, err := actionInputs([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	isBlob := func(p string) bool {
		return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tar.zst") || strings.HasSuffix(p, ".layer_blob") || strings.HasSuffix(p, ".tar")
	}
	counts := map[string]int{}
	for _, a := range inputs {
		counts[a.mnemonic]++
		metadata, blobs := 0, 0
		for _, p := range a.inputs {
			if isBlob(p) {
				blobs++
			}
			if strings.HasSuffix(p, ".layer.json") || strings.HasSuffix(p, ".descriptor.json") {
				metadata++
			}
		}
		switch a.mnemonic {
		case "ImageManifest", "ImageIndex":
			if blobs != 0 || metadata == 0 {
				t.Errorf("%s action reads %d layer blobs and %d metadata files; want 0 blobs", a.mnemonic, blobs, metadata)
			}
		case "ImageLayout":
			// The layout is where bytes are needed: it proves the check sees blobs.
			if blobs == 0 {
				t.Errorf("ImageLayout action reads no layer blobs: %v", a.inputs)
			}
		}
	}
	if counts["ImageManifest"] < 3 || counts["ImageIndex"] != 1 || counts["ImageLayout"] < 2 {
		t.Errorf("aquery found actions %v", counts)
	}
}

// Building in a second output base, with our actions forced to run again
// instead of coming from a cache, gives the same digests.
func TestReproducibleAcrossOutputBases(t *testing.T) {
	targets := []string{"//hello:multiarch", "//tarlayer:image", "//tree:layer", "//estargz:image"}
	digests := func(b *harness.Bazel, flags ...string) string {
		args := append([]string{"build"}, targets...)
		if _, err := b.Must(append(args, flags...)...); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, target := range targets {
			files, err := b.OutputFiles(target, "", flags...)
			if err != nil {
				t.Fatal(err)
			}
			// Two empty lists would agree: every target has outputs.
			if len(files) == 0 {
				t.Fatalf("%s has no output files", target)
			}
			for _, f := range files {
				lines = append(lines, filepath.Base(f)+" "+sha256File(t, f))
			}
		}
		return strings.Join(lines, "\n")
	}
	first := digests(ws)
	base, err := harness.TempDir("rules_img_ob")
	if err != nil {
		t.Fatal(err)
	}
	other := &harness.Bazel{Workspace: ws.Workspace, OutputBase: base}
	defer func() {
		other.Shutdown()
		os.RemoveAll(base)
	}()
	second := digests(other, "--modify_execution_info=^Image.*=+no-cache")
	if first != second {
		t.Fatalf("outputs differ between output bases:\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	t.Logf("identical across output bases:\n%s", first)
}

type action struct {
	mnemonic string
	inputs   []string
}

// actionInputs resolves aquery's jsonproto into each action's input paths.
func actionInputs(data []byte) ([]action, error) {
	var q struct {
		Artifacts []struct {
			ID             int `json:"id"`
			PathFragmentID int `json:"pathFragmentId"`
		} `json:"artifacts"`
		Actions []struct {
			Mnemonic       string `json:"mnemonic"`
			InputDepSetIDs []int  `json:"inputDepSetIds"`
		} `json:"actions"`
		DepSets []struct {
			ID                  int   `json:"id"`
			DirectArtifactIDs   []int `json:"directArtifactIds"`
			TransitiveDepSetIDs []int `json:"transitiveDepSetIds"`
		} `json:"depSetOfFiles"`
		PathFragments []struct {
			ID       int    `json:"id"`
			Label    string `json:"label"`
			ParentID int    `json:"parentId"`
		} `json:"pathFragments"`
	}
	if err := json.Unmarshal(data, &q); err != nil {
		return nil, fmt.Errorf("aquery output: %w", err)
	}
	frags := map[int][2]any{}
	for _, f := range q.PathFragments {
		frags[f.ID] = [2]any{f.Label, f.ParentID}
	}
	path := func(id int) string {
		var parts []string
		for id != 0 {
			f := frags[id]
			parts = append([]string{f[0].(string)}, parts...)
			id = f[1].(int)
		}
		return strings.Join(parts, "/")
	}
	artifacts := map[int]string{}
	for _, a := range q.Artifacts {
		artifacts[a.ID] = path(a.PathFragmentID)
	}
	depsets := map[int][2][]int{}
	for _, d := range q.DepSets {
		depsets[d.ID] = [2][]int{d.DirectArtifactIDs, d.TransitiveDepSetIDs}
	}
	var expand func(id int, out map[string]bool)
	expand = func(id int, out map[string]bool) {
		d := depsets[id]
		for _, a := range d[0] {
			out[artifacts[a]] = true
		}
		for _, t := range d[1] {
			expand(t, out)
		}
	}
	var actions []action
	for _, a := range q.Actions {
		set := map[string]bool{}
		for _, id := range a.InputDepSetIDs {
			expand(id, set)
		}
		var inputs []string
		for p := range set {
			inputs = append(inputs, p)
		}
		sort.Strings(inputs)
		actions = append(actions, action{a.Mnemonic, inputs})
	}
	return actions, nil
}
