//go:build e2e

package e2e

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// e2e/workspace/upstream is written in upstream rules_img's current forms:
// a base built here, a tar in layers, a platform label, a created file,
// INHERIT_FROM_BASE and [] / "" that unset, an index as a base, stamp = "force".
func TestUpstreamAttributeForms(t *testing.T) {
	type cfg struct {
		Created      string `json:"created"`
		Architecture string `json:"architecture"`
		Config       struct {
			Entrypoint []string
			Cmd        []string
			Env        []string
			User       string
			WorkingDir string
			Labels     map[string]string
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	inspect := func(layout string) cfg {
		var c cfg
		if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--config", "oci:"+layout)), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	app := layoutOf(t, ws, "//upstream:app")
	unset := layoutOf(t, ws, "//upstream:unset")

	c := inspect(app)
	if c.Created != "2024-05-06T07:08:09Z" {
		t.Errorf("app: created = %q, want the created file's time", c.Created)
	}
	if !slices.Equal(c.Config.Entrypoint, []string{"/app/hello"}) || !slices.Equal(c.Config.Cmd, []string{"from-base", "again"}) {
		t.Errorf("app: entrypoint %q cmd %q, want the base's entrypoint and [INHERIT_FROM_BASE, again] expanded", c.Config.Entrypoint, c.Config.Cmd)
	}
	if c.Config.User != "" || c.Config.WorkingDir != "/app" || !slices.Contains(c.Config.Env, "FROM_BASE=1") {
		t.Errorf("app: user %q (want unset by \"\"), working dir %q, env %q (want inherited)", c.Config.User, c.Config.WorkingDir, c.Config.Env)
	}
	if len(c.RootFS.DiffIDs) != 2 {
		t.Errorf("app: %d layers, want the base's and the tar's", len(c.RootFS.DiffIDs))
	}
	if v := c.Config.Labels["org.opencontainers.image.version"]; v != "0.0" {
		t.Errorf("app: version label %q, want the build setting's default 0.0 filled in", v)
	}
	u := inspect(unset)
	if len(u.Config.Entrypoint) != 0 || u.Config.WorkingDir != "" || u.Config.User != "65534" {
		t.Errorf("unset: entrypoint %q working dir %q user %q: want the first two unset, the user inherited", u.Config.Entrypoint, u.Config.WorkingDir, u.Config.User)
	}

	// create_parent_directories defaults to off, as upstream's: the layer
	// holds /app/hello and no /app/ entry; containerd makes it when unpacking.
	// Built here on its own: the images above build it only in their
	// platform's configuration.
	if _, err := ws.Must("build", "//upstream:bin_layer"); err != nil {
		t.Fatal(err)
	}
	files, err := ws.OutputFiles("//upstream:bin_layer", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".tar.gz") {
			var names []string
			walkLayer(t, f, "application/vnd.oci.image.layer.v1.tar+gzip", func(h *tar.Header, _ io.Reader) { names = append(names, h.Name) })
			if !slices.Equal(names, []string{"app/hello"}) {
				t.Errorf("bin_layer entries = %q, want only app/hello", names)
			}
		}
	}

	ctrd, err := harness.StartContainerd()
	if err != nil {
		t.Fatal(err)
	}
	defer ctrd.Stop()
	for _, run := range []struct{ layout, name, id, want string }{
		{app, "docker.io/e2e/upstream-app:v1", "upstream-app", "hello from upstream docs from linux/amd64 args=from-base,again"},
		{unset, "docker.io/e2e/upstream-unset:v1", "upstream-unset", "hello from upstream docs from linux/amd64 args=no-entrypoint"},
	} {
		if err := ctrd.ImportLayout(run.layout, run.name); err != nil {
			t.Fatal(err)
		}
		out, err := ctrd.Run(run.name, run.id)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != run.want {
			t.Errorf("%s printed %q, want %q", run.name, out, run.want)
		}
	}

	// A py_binary at a relative srcs path runs: its packages' __init__.py
	// are the runfiles' empty files. Python is the host's, bind-mounted
	// (with /etc/alternatives, where Debian's `which` points).
	hostPython := []string{
		"--mount", "type=bind,src=/usr,dst=/usr,options=rbind:ro",
		"--mount", "type=bind,src=/etc/alternatives,dst=/etc/alternatives,options=rbind:ro",
	}
	py := layoutOf(t, ws, "//upstream:py_image")
	if err := ctrd.ImportLayout(py, "docker.io/e2e/upstream-py:v1"); err != nil {
		t.Fatal(err)
	}
	out, err := ctrd.RunWith("docker.io/e2e/upstream-py:v1", "upstream-py", hostPython)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "python says: hello from a py_binary" {
		t.Errorf("py_binary image printed %q", out)
	}
	// The same py_binary through image_from_binary (over the layer above,
	// for its /bin and /lib links), started at its own path from its
	// runfiles root.
	pyb := layoutOf(t, ws, "//upstream:py_from_binary")
	if err := ctrd.ImportLayout(pyb, "docker.io/e2e/upstream-py:binary"); err != nil {
		t.Fatal(err)
	}
	if out, err := ctrd.RunWith("docker.io/e2e/upstream-py:binary", "upstream-py-binary", hostPython); err != nil || strings.TrimSpace(out) != "python says: hello from a py_binary" {
		t.Errorf("image_from_binary of a py_binary: %v %q", err, out)
	}
	// layer_budget splits a binary's runfiles: the py_binary's runtime
	// wrapper and the sh_binary's data from another repository each get a
	// layer under the main repository's; changing an app file changes the
	// top layer alone, and both images still run.
	t.Run("runfiles groups", func(t *testing.T) {
		// The layers above py_layer: their digests and the base names of
		// their files; a file in two layers is an error.
		layersAbove := func(target string) (digests []string, files [][]string) {
			t.Helper()
			var top, m manifest
			layout := layoutOf(t, ws, target)
			readJSON(t, filepath.Join(layout, "index.json"), &top)
			readJSON(t, blobPath(layout, top.Manifests[0].Digest), &m)
			seen := map[string]string{}
			for _, l := range m.Layers[1:] {
				digests = append(digests, l.Digest)
				var names []string
				for _, name := range tarNames(t, blobPath(layout, l.Digest)) {
					if prev, ok := seen[name]; ok {
						t.Errorf("%s: %s is in two layers (%s and %s)", target, name, prev, l.Digest)
					}
					seen[name] = l.Digest
					if !strings.HasSuffix(name, "/") {
						names = append(names, path.Base(name))
					}
				}
				sort.Strings(names)
				files = append(files, names)
			}
			return digests, files
		}
		layerDigests := func(target string) []string {
			t.Helper()
			digests, _ := layersAbove(target)
			return digests
		}
		for _, c := range []struct{ target, want string }{
			{"//upstream:py_layered", "python says: hello from a py_binary"},
			{"//upstream:sh_layered", "hello from a layered sh_binary\nmodule("},
		} {
			if got := layerDigests(c.target); len(got) != 2 {
				t.Fatalf("%s: %d layers above the base, want 2 (runtime or external, main)", c.target, len(got))
			}
			name := "docker.io/e2e/layered:" + strings.TrimPrefix(c.target, "//upstream:")
			if err := ctrd.ImportLayout(layoutOf(t, ws, c.target), name); err != nil {
				t.Fatal(err)
			}
			out, err := ctrd.RunWith(name, "layered-"+strings.TrimPrefix(c.target, "//upstream:"), hostPython)
			if err != nil || !strings.HasPrefix(strings.TrimSpace(out), c.want) {
				t.Errorf("%s: %v %q, want %q", c.target, err, out, c.want)
			}
		}
		// Declared groups: a layer each (the launcher on top without an
		// executable_group), a budget met by merging the two of one rank,
		// and the launcher joining its executable_group.
		for _, c := range []struct {
			target string
			want   []string
		}{
			{"//upstream:grouped_all", []string{"MODULE.bazel", "greeting.txt", "notes.txt", "_repo_mapping app app.sh grouped grouped"}},
			{"//upstream:grouped_budget", []string{"MODULE.bazel", "greeting.txt notes.txt", "_repo_mapping app app.sh grouped grouped"}},
			{"//upstream:grouped_exec", []string{"MODULE.bazel", "_repo_mapping app app.sh greeting.txt grouped_exec grouped_exec notes.txt"}},
		} {
			var got []string
			_, files := layersAbove(c.target)
			for _, files := range files {
				got = append(got, strings.Join(files, " "))
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: layers hold\n%q\nwant\n%q", c.target, got, c.want)
			}
		}
		name := "docker.io/e2e/layered:grouped"
		if err := ctrd.ImportLayout(layoutOf(t, ws, "//upstream:grouped_all"), name); err != nil {
			t.Fatal(err)
		}
		if out, err := ctrd.RunWith(name, "layered-grouped", hostPython); err != nil || !strings.HasPrefix(strings.TrimSpace(out), "hello from a layered sh_binary\nmodule(") {
			t.Errorf("//upstream:grouped_all: %v %q", err, out)
		}

		before := layerDigests("//upstream:sh_layered")
		greeting := filepath.Join(ws.Workspace, "upstream", "sh", "greeting.txt")
		old, err := os.ReadFile(greeting)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.WriteFile(greeting, old, 0o644) })
		os.WriteFile(greeting, []byte("changed\n"), 0o644)
		after := layerDigests("//upstream:sh_layered")
		if after[0] != before[0] || after[1] == before[1] {
			t.Errorf("after an app file changed: layers %v, were %v: want the lower the same, the top new", after, before)
		}
	})

	// A filegroup of two files is a directory of their base names.
	out, err = ctrd.RunWith("docker.io/e2e/upstream-py:v1", "upstream-py-notes", hostPython, "/bin/cat", "/etc/notes/a.txt", "/etc/notes/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "note a\nnote b" {
		t.Errorf("notes: %q", out)
	}

	// image_from_binary: entrypoint, cmd from the binary's args (locations
	// expanded), env from its env and the image's, the runfiles as the
	// working directory; as a manifest at a chosen path and as an index.
	for _, img := range []struct{ target, name, want string }{
		{"//upstream:runinfo_image", "docker.io/e2e/runinfo:single",
			"args=--flag,_main/upstream/bin/data.txt env=from-binary,from-image wd=/usr/local/bin/runinfo.runfiles/_main data=data for runinfo"},
		{"//upstream:runinfo_index", "docker.io/e2e/runinfo:index",
			"args=--flag,_main/upstream/bin/data.txt env=from-binary, wd=/_main/upstream/bin/runinfo_/runinfo.runfiles/_main data=data for runinfo"},
	} {
		layout := layoutOf(t, ws, img.target)
		if err := ctrd.ImportLayout(layout, img.name); err != nil {
			t.Fatal(err)
		}
		out, err := ctrd.Run(img.name, "runinfo-"+strings.Split(img.name, ":")[1])
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != img.want {
			t.Errorf("%s printed %q, want %q", img.target, strings.TrimSpace(out), img.want)
		}
	}
	if root := rootOf(t, layoutOf(t, ws, "//upstream:runinfo_index")); root.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("image_from_binary with two platforms: root is %s, want an index", root.MediaType)
	}

	// A base that is an image_index: the manifest for the image's platform.
	onIndex := inspect(layoutOf(t, ws, "//upstream:on_index"))
	index := layoutOf(t, ws, "//upstream:base_index")
	var idx manifest
	readJSON(t, blobPath(index, rootOf(t, index).Digest), &idx)
	var arm manifest
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.Architecture == "arm64" {
			readJSON(t, blobPath(index, m.Digest), &arm)
		}
	}
	var armCfg config
	readJSON(t, blobPath(index, arm.Config.Digest), &armCfg)
	if onIndex.Architecture != "arm64" || len(onIndex.RootFS.DiffIDs) != 2 || len(armCfg.RootFS.DiffIDs) != 1 ||
		onIndex.RootFS.DiffIDs[0] != armCfg.RootFS.DiffIDs[0] || onIndex.Created != "2024-01-02T03:04:05Z" {
		t.Errorf("on_index: %s, diff_ids %v, created %s; want arm64 on the index's arm64 layer %v", onIndex.Architecture, onIndex.RootFS.DiffIDs, onIndex.Created, armCfg.RootFS.DiffIDs)
	}

	// stamp = "force" fills templates without --stamp.
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	if _, err := bazelRun(t, ws, "//upstream:push", []string{"--embed_label=v1"}, "--registry", reg.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := harness.RawManifest(reg.Addr(), "upstream/app", "v1x"); err != nil {
		t.Errorf("stamp = \"force\": tag v1x: %v", err)
	}

	// layer_from_file: the file is the blob, byte for byte, with its media
	// type and title; the registry takes it, crane reads it back.
	if _, err := bazelRun(t, ws, "//upstream:push_chart", nil, "--registry", reg.Addr()); err != nil {
		t.Fatal(err)
	}
	raw, err := harness.Crane("manifest", reg.Addr()+"/upstream/chart:v1")
	if err != nil {
		t.Fatal(err)
	}
	var chart manifest
	if err := json.Unmarshal([]byte(raw), &chart); err != nil || len(chart.Layers) != 1 {
		t.Fatalf("chart manifest: %v\n%s", err, raw)
	}
	l := chart.Layers[0]
	if l.MediaType != "application/vnd.cncf.helm.chart.content.v1.tar+gzip" || l.Annotations["org.opencontainers.image.title"] != "Chart.yaml" {
		t.Errorf("chart layer descriptor: %+v", l)
	}
	blob, err := harness.Crane("blob", reg.Addr()+"/upstream/chart@"+l.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(filepath.Join(ws.Workspace, "upstream", "Chart.yaml")); blob != string(want) {
		t.Errorf("chart blob is %q, want the file %q", blob, want)
	}

	// Templates from build_settings, in the registry too; a destination
	// file; the destination_registry setting; --tag adds to the target's.
	for _, push := range []struct {
		target     string
		flags      []string
		repository string
		tags       []string
	}{
		{"//upstream:push_templated", []string{"--//upstream:registry=" + reg.Addr(), "--//upstream:version=2.5"}, "upstream/templated", []string{"v2.5"}},
		{"//upstream:push_destination_file", []string{"--define=E2E_REGISTRY=" + reg.Addr()}, "upstream/from-file", []string{"v1"}},
		{"//upstream:push_default_registry", []string{"--@rules_img//img/settings:destination_registry=" + reg.Addr()}, "upstream/default", []string{"v1", "extra"}},
	} {
		args := []string{}
		if push.target == "//upstream:push_default_registry" {
			args = []string{"--tag", "extra"}
		}
		if _, err := bazelRun(t, ws, push.target, push.flags, args...); err != nil {
			t.Error(err)
			continue
		}
		for _, tag := range push.tags {
			if _, _, err := harness.RawManifest(reg.Addr(), push.repository, tag); err != nil {
				t.Errorf("%s: %s:%s: %v", push.target, push.repository, tag, err)
			}
		}
	}
}
