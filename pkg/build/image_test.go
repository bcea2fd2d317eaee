package build

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"

	"github.com/rules-img/rules_img/pkg/oci"
)

// imagetest.WriteSpec writes spec JSON text and returns its path.
func writeMetas(t *testing.T, dir string, metas ...oci.LayerMetadata) []string {
	t.Helper()
	var paths []string
	for i, m := range metas {
		p := filepath.Join(dir, "layer"+string(rune('0'+i))+".json")
		imagetest.WriteJSON(t, p, m)
		paths = append(paths, p)
	}
	return paths
}

// buildConfig runs WriteImage and returns the decoded config.
func buildConfig(t *testing.T, f ImageFiles) (oci.ImageConfig, []byte) {
	t.Helper()
	dir := t.TempDir()
	f = imageOut(dir, f)
	if err := WriteImage(f); err != nil {
		t.Fatal(err)
	}
	b := imagetest.ReadFile(t, f.Config)
	var c oci.ImageConfig
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c, b
}

func TestManifestGoldenBytes(t *testing.T) {
	dir := t.TempDir()
	m := imagetest.FakeMeta(0)
	m.Annotations = map[string]string{"x": "y"}
	f := imageOut(dir, ImageFiles{
		Layers:   writeMetas(t, dir, m),
		Spec:     imagetest.WriteSpec(t, dir, `{"target":"//app:image","entrypoint":["/app/server"],"env":{"B":"2","A":"1"},"exposed_ports":["80"],"annotations":{"k":"v"}}`),
		Platform: imagetest.LinuxAmd64,
	})
	if err := WriteImage(f); err != nil {
		t.Fatal(err)
	}
	config := imagetest.ReadFile(t, f.Config)
	wantConfig := `{"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux",` +
		`"config":{"ExposedPorts":{"80/tcp":{}},"Env":["A=1","B=2"],"Entrypoint":["/app/server"]},` +
		`"rootfs":{"type":"layers","diff_ids":["` + m.DiffID + `"]},` +
		`"history":[{"created":"1970-01-01T00:00:00Z","created_by":"rules_img //app:image"}]}`
	if string(config) != wantConfig {
		t.Errorf("config:\n got %s\nwant %s", config, wantConfig)
	}
	manifest := imagetest.ReadFile(t, f.Manifest)
	wantManifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + oci.Digest(config) + `","size":` + itoa(len(config)) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + m.Digest + `","size":100,"annotations":{"x":"y"}}],` +
		`"annotations":{"k":"v"}}`
	if string(manifest) != wantManifest {
		t.Errorf("manifest:\n got %s\nwant %s", manifest, wantManifest)
	}
	desc := imagetest.ReadFile(t, f.Descriptor)
	wantDesc := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + oci.Digest(manifest) + `","size":` + itoa(len(manifest)) +
		`,"platform":{"architecture":"amd64","os":"linux"}}`
	if string(desc) != wantDesc {
		t.Errorf("descriptor:\n got %s\nwant %s", desc, wantDesc)
	}
	if names := imagetest.DirNames(t, dir); slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".partial") }) {
		t.Errorf("partial files left: %v", names)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestManifestByteIdentical(t *testing.T) {
	in := t.TempDir()
	var metas []oci.LayerMetadata
	for i := range 5 {
		metas = append(metas, imagetest.FakeMeta(i))
	}
	// Many map entries, so that map iteration order would show.
	spec := `{"target":"//app:image","env":{"Z":"1","A":"2","M":"3","PATH":"/bin","Q":"$PATH"},` +
		`"labels":{"l1":"a","l9":"b","l3":"c","l5":"d"},"annotations":{"a9":"1","a1":"2","a5":"3"},` +
		`"exposed_ports":["53/udp","80/tcp","443","8080/tcp"],"volumes":["/z","/a","/m"]}`
	f := ImageFiles{Layers: writeMetas(t, in, metas...), Spec: imagetest.WriteSpec(t, in, spec), Platform: oci.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}
	var first [3][]byte
	for i := range 20 {
		out := imageOut(t.TempDir(), f)
		if err := WriteImage(out); err != nil {
			t.Fatal(err)
		}
		got := [3][]byte{imagetest.ReadFile(t, out.Config), imagetest.ReadFile(t, out.Manifest), imagetest.ReadFile(t, out.Descriptor)}
		if i == 0 {
			first = got
			continue
		}
		for j := range got {
			if !bytes.Equal(got[j], first[j]) {
				t.Fatalf("run %d: output %d differs:\n%s\n%s", i, j, got[j], first[j])
			}
		}
	}
}

func TestManifestJSONShape(t *testing.T) {
	dir := t.TempDir()
	spec := `{"target":"//app:image","entrypoint":["/app/server"],"cmd":["--port","80"],
		"env":{"PATH":"/usr/bin","FOO":"bar"},"user":"1000:1000","working_dir":"/app",
		"labels":{"k":"v"},"annotations":{"ak":"av"},"exposed_ports":["80/tcp","53/udp"],
		"volumes":["/data"],"stop_signal":"SIGTERM","created":"2024-05-06T07:08:09Z"}`
	metas := []oci.LayerMetadata{imagetest.FakeMeta(0), imagetest.FakeMeta(1)}
	f := imageOut(dir, ImageFiles{Layers: writeMetas(t, dir, metas...), Spec: imagetest.WriteSpec(t, dir, spec), Platform: oci.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}})
	if err := WriteImage(f); err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	if err := json.Unmarshal(imagetest.ReadFile(t, f.Config), &config); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "config", config, "created", "architecture", "os", "variant", "config", "rootfs", "history")
	cc := config["config"].(map[string]any)
	wantKeys(t, "config.config", cc, "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal")
	checks := map[string]any{
		"User":         "1000:1000",
		"WorkingDir":   "/app",
		"StopSignal":   "SIGTERM",
		"Env":          []any{"FOO=bar", "PATH=/usr/bin"},
		"Entrypoint":   []any{"/app/server"},
		"Cmd":          []any{"--port", "80"},
		"ExposedPorts": map[string]any{"80/tcp": map[string]any{}, "53/udp": map[string]any{}},
		"Volumes":      map[string]any{"/data": map[string]any{}},
		"Labels":       map[string]any{"k": "v"},
	}
	for k, want := range checks {
		if got, _ := json.Marshal(cc[k]); string(got) != string(mustJSON(t, want)) {
			t.Errorf("config.%s = %s, want %s", k, got, mustJSON(t, want))
		}
	}
	if config["created"] != "2024-05-06T07:08:09Z" || config["variant"] != "v7" || config["architecture"] != "arm" {
		t.Errorf("top-level fields: %v", config)
	}
	rootfs := config["rootfs"].(map[string]any)
	if rootfs["type"] != "layers" || len(rootfs["diff_ids"].([]any)) != 2 || rootfs["diff_ids"].([]any)[1] != metas[1].DiffID {
		t.Errorf("rootfs = %v", rootfs)
	}
	hist := config["history"].([]any)
	if len(hist) != 2 {
		t.Fatalf("history = %v", hist)
	}
	wantKeys(t, "history[0]", hist[0].(map[string]any), "created", "created_by")

	var manifest map[string]any
	mb := imagetest.ReadFile(t, f.Manifest)
	if err := json.Unmarshal(mb, &manifest); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, "manifest", manifest, "schemaVersion", "mediaType", "config", "layers", "annotations")
	cd := manifest["config"].(map[string]any)
	if cd["digest"] != oci.Digest(imagetest.ReadFile(t, f.Config)) || cd["mediaType"] != string(oci.MediaTypeConfig) {
		t.Errorf("config descriptor = %v", cd)
	}
	layers := manifest["layers"].([]any)
	if len(layers) != 2 || layers[0].(map[string]any)["digest"] != metas[0].Digest || layers[1].(map[string]any)["digest"] != metas[1].Digest {
		t.Errorf("layers = %v", layers)
	}
	d, err := oci.ReadDescriptor(f.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != oci.Digest(mb) || d.Size != int64(len(mb)) || d.Platform == nil || d.Platform.String() != "linux/arm/v7" {
		t.Errorf("descriptor = %+v", d)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	keys = slices.Clone(keys)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s keys = %v, want %v", what, got, keys)
	}
}

func TestManifestOmitsEmpty(t *testing.T) {
	dir := t.TempDir()
	_, b := buildConfig(t, ImageFiles{Spec: imagetest.WriteSpec(t, dir, `{}`), Platform: imagetest.LinuxAmd64})
	want := `{"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}

const fragment = `{
  "created": "2020-01-01T00:00:00Z",
  "author": "someone",
  "architecture": "arm64", "os": "windows",
  "config": {
    "User": "root",
    "Env": ["PATH=/usr/local/bin:/usr/bin", "HOME=/root", "KEEP=1"],
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["echo hi"],
    "WorkingDir": "/",
    "Labels": {"from": "fragment", "over": "fragment"},
    "ExposedPorts": {"22/tcp": {}},
    "Healthcheck": {"Test": ["CMD", "true"],   "Interval": 1000},
    "Shell": null
  },
  "rootfs": {"type": "layers", "diff_ids": ["sha256:0000000000000000000000000000000000000000000000000000000000000000"]},
  "history": [{"created_by": "something else"}],
  "container_config": {"Hostname": "x"}
}`

func TestManifestConfigFragment(t *testing.T) {
	dir := t.TempDir()
	fragPath := filepath.Join(dir, "fragment.json")
	imagetest.WriteFile(t, fragPath, fragment)
	spec := `{"target":"//app:image","config_fragment":` + string(mustJSON(t, fragPath)) + `,
		"env":{"PATH":"/app/bin:$PATH","NEW":"${HOME}/x $UNKNOWN \\$HOME"},
		"user":"1000","labels":{"over":"spec"},"exposed_ports":["80"],"cmd":null}`
	m := imagetest.FakeMeta(0)
	c, b := buildConfig(t, ImageFiles{Layers: writeMetas(t, dir, m), Spec: imagetest.WriteSpec(t, dir, spec), Platform: imagetest.LinuxAmd64})

	if c.OS != "linux" || c.Architecture != "amd64" {
		t.Errorf("platform from flags must win over the fragment's: %s/%s", c.OS, c.Architecture)
	}
	if c.Created != "2020-01-01T00:00:00Z" || c.Author != "someone" {
		t.Errorf("created/author = %q/%q, want the fragment's", c.Created, c.Author)
	}
	cc := c.Config
	wantEnv := []string{"PATH=/app/bin:/usr/local/bin:/usr/bin", "HOME=/root", "KEEP=1", "NEW=/root/x $UNKNOWN $HOME"}
	if !slices.Equal(cc.Env, wantEnv) {
		t.Errorf("Env = %q, want %q", cc.Env, wantEnv)
	}
	if cc.User != "1000" || cc.WorkingDir != "/" {
		t.Errorf("User/WorkingDir = %q/%q", cc.User, cc.WorkingDir)
	}
	if !slices.Equal(cc.Entrypoint, []string{"/bin/sh", "-c"}) || !slices.Equal(cc.Cmd, []string{"echo hi"}) {
		t.Errorf("Entrypoint/Cmd = %q/%q, want the fragment's (cmd: null means not set)", cc.Entrypoint, cc.Cmd)
	}
	if cc.Labels["from"] != "fragment" || cc.Labels["over"] != "spec" {
		t.Errorf("Labels = %v", cc.Labels)
	}
	if _, ok := cc.ExposedPorts["22/tcp"]; !ok || len(cc.ExposedPorts) != 2 {
		t.Errorf("ExposedPorts = %v", cc.ExposedPorts)
	}
	if string(cc.Extra["Healthcheck"]) != `{"Test":["CMD","true"],"Interval":1000}` {
		t.Errorf("Healthcheck = %s, want kept (compacted)", cc.Extra["Healthcheck"])
	}
	if _, ok := cc.Extra["Shell"]; ok {
		t.Errorf("null Shell should be dropped")
	}
	if !slices.Equal(c.RootFS.DiffIDs, []string{m.DiffID}) {
		t.Errorf("diff_ids = %v, want only our layer's", c.RootFS.DiffIDs)
	}
	if len(c.History) != 1 || c.History[0].CreatedBy != "rules_img //app:image" || c.History[0].Created != "2020-01-01T00:00:00Z" {
		t.Errorf("history = %+v", c.History)
	}
	if bytes.Contains(b, []byte("container_config")) {
		t.Errorf("unknown top-level fragment keys must be dropped: %s", b)
	}
	// Extra keys come after the known ones, in a fixed order.
	if i, j := bytes.Index(b, []byte(`"Labels"`)), bytes.Index(b, []byte(`"Healthcheck"`)); i < 0 || j < i {
		t.Errorf("Healthcheck should follow the known keys: %s", b)
	}
}

func TestManifestExplicitEmptyClears(t *testing.T) {
	dir := t.TempDir()
	fragPath := filepath.Join(dir, "fragment.json")
	imagetest.WriteFile(t, fragPath, fragment)
	spec := `{"config_fragment":` + string(mustJSON(t, fragPath)) + `,"entrypoint":[],"cmd":[],"user":""}`
	c, b := buildConfig(t, ImageFiles{Spec: imagetest.WriteSpec(t, dir, spec), Platform: imagetest.LinuxAmd64})
	if c.Config.Entrypoint != nil || c.Config.Cmd != nil || c.Config.User != "" {
		t.Errorf("explicit empty values must clear: %+v", c.Config)
	}
	if bytes.Contains(b, []byte("Entrypoint")) || bytes.Contains(b, []byte(`"User"`)) {
		t.Errorf("cleared fields must be omitted: %s", b)
	}
}

// writeBase writes a base image's config and manifest as a registry would
// serve them (Docker media types) and returns their paths.
func writeBase(t *testing.T, dir string, cfg string, layers []oci.LayerMetadata) (string, string) {
	t.Helper()
	cfgPath := filepath.Join(dir, "base_config.json")
	imagetest.WriteFile(t, cfgPath, cfg)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeDockerManifest,
		"config":        map[string]any{"mediaType": oci.MediaTypeDockerConfig, "digest": oci.Digest([]byte(cfg)), "size": len(cfg)},
	}
	var ls []map[string]any
	for _, l := range layers {
		ls = append(ls, map[string]any{"mediaType": oci.MediaTypeDockerLayerGzip, "digest": l.Digest, "size": l.Size})
	}
	m["layers"] = ls
	manPath := filepath.Join(dir, "base_manifest.json")
	imagetest.WriteJSON(t, manPath, m)
	return cfgPath, manPath
}

func baseConfigJSON(diffIDs ...string) string {
	ids, _ := json.Marshal(diffIDs)
	return `{"created":"2023-01-01T00:00:00Z","architecture":"amd64","os":"linux",
	"config":{"Env":["PATH=/usr/bin","LANG=C"],"Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx"],
	"User":"nginx","WorkingDir":"/srv","Labels":{"base":"yes"},"StopSignal":"SIGQUIT","OnBuild":null,"ArgsEscaped":true},
	"rootfs":{"type":"layers","diff_ids":` + string(ids) + `},
	"history":[{"created_by":"base step 1"},{"created_by":"ENV x","empty_layer":true},{"created_by":"base step 2"}]}`
}

func TestManifestBaseImage(t *testing.T) {
	dir := t.TempDir()
	b0, b1 := imagetest.FakeMeta(10), imagetest.FakeMeta(11)
	cfgPath, manPath := writeBase(t, dir, baseConfigJSON(b0.DiffID, b1.DiffID), []oci.LayerMetadata{b0, b1})
	own := imagetest.FakeMeta(0)
	spec := `{"target":"//app:image","entrypoint":["/app"],"env":{"PATH":"/app:$PATH"},"labels":{"mine":"1"}}`
	f := imageOut(dir, ImageFiles{Layers: writeMetas(t, dir, own), Spec: imagetest.WriteSpec(t, dir, spec), Platform: imagetest.LinuxAmd64, BaseConfig: cfgPath, BaseManifest: manPath})
	if err := WriteImage(f); err != nil {
		t.Fatal(err)
	}
	var c oci.ImageConfig
	if err := json.Unmarshal(imagetest.ReadFile(t, f.Config), &c); err != nil {
		t.Fatal(err)
	}
	cc := c.Config
	if !slices.Equal(cc.Env, []string{"PATH=/app:/usr/bin", "LANG=C"}) {
		t.Errorf("Env = %q", cc.Env)
	}
	if !slices.Equal(cc.Entrypoint, []string{"/app"}) || cc.Cmd != nil {
		t.Errorf("Entrypoint/Cmd = %q/%q: setting entrypoint must drop the base's cmd", cc.Entrypoint, cc.Cmd)
	}
	if cc.User != "nginx" || cc.WorkingDir != "/srv" || cc.StopSignal != "SIGQUIT" || cc.Labels["base"] != "yes" || cc.Labels["mine"] != "1" {
		t.Errorf("inherited fields wrong: %+v", cc)
	}
	if string(cc.Extra["ArgsEscaped"]) != "true" {
		t.Errorf("ArgsEscaped not inherited: %v", cc.Extra)
	}
	if c.Created != DefaultCreated {
		t.Errorf("created = %q: the base's creation time must not be inherited", c.Created)
	}
	if !slices.Equal(c.RootFS.DiffIDs, []string{b0.DiffID, b1.DiffID, own.DiffID}) {
		t.Errorf("diff_ids = %v", c.RootFS.DiffIDs)
	}
	if len(c.History) != 4 || c.History[0].CreatedBy != "base step 1" || !c.History[1].EmptyLayer || c.History[3].CreatedBy != "rules_img //app:image" {
		t.Errorf("history = %+v", c.History)
	}
	var m oci.Manifest
	if err := json.Unmarshal(imagetest.ReadFile(t, f.Manifest), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 3 || m.Layers[0].Digest != b0.Digest || m.Layers[2].Digest != own.Digest {
		t.Fatalf("layers = %+v", m.Layers)
	}
	if m.Layers[0].MediaType != oci.MediaTypeLayerGzip {
		t.Errorf("base layer media type = %q, want converted to OCI", m.Layers[0].MediaType)
	}

	// Setting cmd too keeps it; not setting entrypoint keeps the base's cmd.
	for spec, wantCmd := range map[string][]string{
		`{"entrypoint":["/app"],"cmd":["x"]}`: {"x"},
		`{"user":"me"}`:                       {"nginx"},
	} {
		c, _ := buildConfig(t, ImageFiles{Spec: imagetest.WriteSpec(t, t.TempDir(), spec), Platform: imagetest.LinuxAmd64, BaseConfig: cfgPath, BaseManifest: manPath})
		if !slices.Equal(c.Config.Cmd, wantCmd) {
			t.Errorf("%s: Cmd = %q, want %q", spec, c.Config.Cmd, wantCmd)
		}
	}

	// INHERIT_FROM_BASE items stand for the base's list in place; an empty
	// list or string unsets the field instead of inheriting it.
	inherit := `"<inherit from base>\u0000"`
	for spec, want := range map[string][2][]string{
		`{"entrypoint":[` + inherit + `,"-v"]}`:                    {{"/docker-entrypoint.sh", "-v"}, nil},
		`{"entrypoint":[` + inherit + `],"cmd":[` + inherit + `]}`: {{"/docker-entrypoint.sh"}, {"nginx"}},
		`{"cmd":["-x",` + inherit + `]}`:                           {{"/docker-entrypoint.sh"}, {"-x", "nginx"}},
		`{"entrypoint":[]}`:                                        {{}, nil},
		`{"cmd":[]}`:                                               {{"/docker-entrypoint.sh"}, {}},
	} {
		c, raw := buildConfig(t, ImageFiles{Spec: imagetest.WriteSpec(t, t.TempDir(), spec), Platform: imagetest.LinuxAmd64, BaseConfig: cfgPath, BaseManifest: manPath})
		if !slices.Equal(c.Config.Entrypoint, want[0]) || !slices.Equal(c.Config.Cmd, want[1]) {
			t.Errorf("%s: Entrypoint/Cmd = %q/%q, want %q/%q", spec, c.Config.Entrypoint, c.Config.Cmd, want[0], want[1])
		}
		if bytes.Contains(raw, []byte("inherit from base")) {
			t.Errorf("%s: the sentinel reached the config: %s", spec, raw)
		}
	}
	c, _ = buildConfig(t, ImageFiles{Spec: imagetest.WriteSpec(t, t.TempDir(), `{"user":"","working_dir":""}`), Platform: imagetest.LinuxAmd64, BaseConfig: cfgPath, BaseManifest: manPath})
	if c.Config.User != "" || c.Config.WorkingDir != "" {
		t.Errorf("user/working_dir = %q/%q: an empty string must unset the base's", c.Config.User, c.Config.WorkingDir)
	}
}

// created may come from a file (a stamped genrule's output); white space
// around the time is ignored and an empty file is an error.
func TestCreatedFile(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "created.txt")
	imagetest.WriteFile(t, created, "2024-05-06T07:08:09Z\n")
	spec := `{"target":"//app:image","created_file":` + strconv.Quote(created) + `}`
	c, _ := buildConfig(t, ImageFiles{Spec: imagetest.WriteSpec(t, dir, spec), Platform: imagetest.LinuxAmd64})
	if c.Created != "2024-05-06T07:08:09Z" {
		t.Errorf("created = %q, want the file's time", c.Created)
	}
	imagetest.WriteFile(t, created, " \n")
	err := WriteImage(imageOut(t.TempDir(), ImageFiles{Spec: imagetest.WriteSpec(t, dir, spec), Platform: imagetest.LinuxAmd64}))
	imagetest.WantErr(t, err, "//app:image: created: ", "is empty")
}

// env, labels and annotations values are templates: build settings fill
// them always, the workspace status only when the build is stamped.
func TestConfigTemplates(t *testing.T) {
	dir := t.TempDir()
	spec := imagetest.WriteSpec(t, dir, `{"target":"//app:image","vars":{"VERSION":"1.2"},
		"env":{"V":"{{.VERSION}}","WHO":"{{.BUILD_USER}}"},"labels":{"v":"v{{.VERSION}}"},"annotations":{"a":"{{.VERSION}}"}}`)
	c, _ := buildConfig(t, ImageFiles{Spec: spec, Platform: imagetest.LinuxAmd64})
	if !slices.Contains(c.Config.Env, "V=1.2") || !slices.Contains(c.Config.Env, "WHO={{.BUILD_USER}}") || c.Config.Labels["v"] != "v1.2" {
		t.Errorf("unstamped: env %q labels %v", c.Config.Env, c.Config.Labels)
	}
	status := filepath.Join(dir, "stable-status.txt")
	imagetest.WriteFile(t, status, "BUILD_USER ci\n")
	c, _ = buildConfig(t, ImageFiles{Spec: spec, Platform: imagetest.LinuxAmd64, Status: []string{status}})
	if !slices.Contains(c.Config.Env, "WHO=ci") {
		t.Errorf("stamped: env %q", c.Config.Env)
	}
	bad := imagetest.WriteSpec(t, t.TempDir(), `{"target":"//app:image","labels":{"x":"{{.NOPE}}"}}`)
	err := WriteImage(imageOut(t.TempDir(), ImageFiles{Spec: bad, Platform: imagetest.LinuxAmd64, Status: []string{status}}))
	imagetest.WantErr(t, err, `//app:image: labels["x"]: `, "neither build_settings nor the workspace status")
}

// env_file, label_files and annotations_file add entries; the dict
// attributes win, and a later label file over an earlier one.
func TestConfigFromKeyValueFiles(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "env.json")
	imagetest.WriteFile(t, env, `{"A": "from file", "B": ["old", "b=1 2"]}`)
	l1, l2 := filepath.Join(dir, "l1.txt"), filepath.Join(dir, "l2.txt")
	imagetest.WriteFile(t, l1, "# labels\nx=1\ny=1\n")
	imagetest.WriteFile(t, l2, `["y=2"]`)
	ann := filepath.Join(dir, "ann.txt")
	imagetest.WriteFile(t, ann, "org.example=v\n")
	spec := imagetest.WriteSpec(t, dir, `{"target":"//app:image","env":{"A":"attr"},"labels":{"x":"attr"},
		"env_files":[`+strconv.Quote(env)+`],"label_files":[`+strconv.Quote(l1)+`,`+strconv.Quote(l2)+`],"annotation_files":[`+strconv.Quote(ann)+`]}`)
	c, _ := buildConfig(t, ImageFiles{Spec: spec, Platform: imagetest.LinuxAmd64})
	if !slices.Contains(c.Config.Env, "A=attr") || !slices.Contains(c.Config.Env, "B=b=1 2") {
		t.Errorf("env %q", c.Config.Env)
	}
	if c.Config.Labels["x"] != "attr" || c.Config.Labels["y"] != "2" {
		t.Errorf("labels %v", c.Config.Labels)
	}
	bad := filepath.Join(dir, "bad.txt")
	imagetest.WriteFile(t, bad, "no pair here\n")
	spec = imagetest.WriteSpec(t, t.TempDir(), `{"target":"//app:image","env_files":[`+strconv.Quote(bad)+`]}`)
	err := WriteImage(imageOut(t.TempDir(), ImageFiles{Spec: spec, Platform: imagetest.LinuxAmd64}))
	imagetest.WantErr(t, err, "//app:image: env_file: ", bad, `line 1: "no pair here" is not KEY=VALUE`)
}

// created_timestamp is a template for created: filled, it sets the time;
// unstamped, or filled to nothing, the reproducible default stands.
func TestCreatedTimestamp(t *testing.T) {
	dir := t.TempDir()
	spec := imagetest.WriteSpec(t, dir, `{"target":"//app:image","created_timestamp":"{{.BUILD_TIMESTAMP_RFC3339}}"}`)
	c, _ := buildConfig(t, ImageFiles{Spec: spec, Platform: imagetest.LinuxAmd64})
	if c.Created != DefaultCreated {
		t.Errorf("unstamped: created %q, want %q", c.Created, DefaultCreated)
	}
	status := filepath.Join(dir, "volatile-status.txt")
	imagetest.WriteFile(t, status, "BUILD_TIMESTAMP 1700000000\n")
	c, _ = buildConfig(t, ImageFiles{Spec: spec, Platform: imagetest.LinuxAmd64, Status: []string{status}})
	if c.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("stamped: created %q", c.Created)
	}
	empty := imagetest.WriteSpec(t, t.TempDir(), `{"target":"//app:image","vars":{"T":""},"created_timestamp":"{{.T}}"}`)
	if c, _ := buildConfig(t, ImageFiles{Spec: empty, Platform: imagetest.LinuxAmd64}); c.Created != DefaultCreated {
		t.Errorf("empty: created %q", c.Created)
	}
	bad := imagetest.WriteSpec(t, t.TempDir(), `{"target":"//app:image","vars":{"T":"yesterday"},"created_timestamp":"{{.T}}"}`)
	err := WriteImage(imageOut(t.TempDir(), ImageFiles{Spec: bad, Platform: imagetest.LinuxAmd64}))
	imagetest.WantErr(t, err, "//app:image: ", `bad created time "yesterday"`)
}

func TestManifestBaseImageErrors(t *testing.T) {
	dir := t.TempDir()
	b0 := imagetest.FakeMeta(10)
	cfgPath, manPath := writeBase(t, dir, baseConfigJSON(b0.DiffID), []oci.LayerMetadata{b0})
	spec := imagetest.WriteSpec(t, dir, `{"target":"//app:image"}`)
	run := func(f ImageFiles) error {
		f.Spec = spec
		if f.Platform.OS == "" {
			f.Platform = imagetest.LinuxAmd64
		}
		return WriteImage(imageOut(t.TempDir(), f))
	}

	imagetest.WantErr(t, run(ImageFiles{BaseConfig: cfgPath, BaseManifest: manPath, Platform: oci.Platform{OS: "linux", Architecture: "arm64"}}),
		"//app:image:", "is for linux/amd64, not linux/arm64")
	imagetest.WantErr(t, run(ImageFiles{BaseConfig: cfgPath}), "both its config and its manifest")

	other := filepath.Join(dir, "other.json")
	imagetest.WriteFile(t, other, baseConfigJSON(b0.DiffID)+" ")
	imagetest.WantErr(t, run(ImageFiles{BaseConfig: other, BaseManifest: manPath}), "//app:image:", other, "references config")

	idx := filepath.Join(dir, "index.json")
	imagetest.WriteFile(t, idx, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	imagetest.WantErr(t, run(ImageFiles{BaseConfig: cfgPath, BaseManifest: idx}), "is an index")

	twoIDs := filepath.Join(dir, "two")
	os.Mkdir(twoIDs, 0o755)
	c2, m2 := writeBase(t, twoIDs, baseConfigJSON(b0.DiffID, b0.DiffID), []oci.LayerMetadata{b0})
	imagetest.WantErr(t, run(ImageFiles{BaseConfig: c2, BaseManifest: m2}), "1 layers", "2 diff_ids")
}

func TestManifestBaseWithoutHistory(t *testing.T) {
	dir := t.TempDir()
	b0 := imagetest.FakeMeta(10)
	cfg := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + b0.DiffID + `"]}}`
	cfgPath, manPath := writeBase(t, dir, cfg, []oci.LayerMetadata{b0})
	c, _ := buildConfig(t, ImageFiles{Layers: writeMetas(t, dir, imagetest.FakeMeta(0)), Spec: imagetest.WriteSpec(t, dir, `{}`), Platform: imagetest.LinuxAmd64, BaseConfig: cfgPath, BaseManifest: manPath})
	if len(c.History) != 2 || c.History[1].CreatedBy != "rules_img" {
		t.Errorf("history = %+v, want a placeholder for the base layer then ours", c.History)
	}
}

func TestManifestErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeMetas(t, dir, imagetest.FakeMeta(0))
	badMeta := filepath.Join(dir, "bad_meta.json")
	imagetest.WriteFile(t, badMeta, `{"mediaType":`)
	badFrag := filepath.Join(dir, "bad_frag.json")
	imagetest.WriteFile(t, badFrag, `{"config": "not an object"}`)
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name     string
		spec     string
		layers   []string
		platform oci.Platform
		want     []string
	}{
		{"malformed layer metadata", `{"target":"//app:image"}`, []string{good[0], badMeta}, imagetest.LinuxAmd64, []string{"//app:image: ", badMeta, "not layer metadata"}},
		{"missing layer metadata", `{"target":"//app:image"}`, []string{missing}, imagetest.LinuxAmd64, []string{"//app:image: ", missing}},
		{"malformed fragment", `{"target":"//app:image","config_fragment":` + string(mustJSON(t, badFrag)) + `}`, good, imagetest.LinuxAmd64, []string{"//app:image: config fragment ", badFrag, "not an image config"}},
		{"missing fragment", `{"target":"//app:image","config_fragment":` + string(mustJSON(t, missing)) + `}`, good, imagetest.LinuxAmd64, []string{"//app:image: config fragment", missing}},
		{"bad port", `{"target":"//app:image","exposed_ports":["80/tcp","http"]}`, good, imagetest.LinuxAmd64, []string{`//app:image: bad exposed port "http"`}},
		{"port range", `{"target":"//app:image","exposed_ports":["70000"]}`, good, imagetest.LinuxAmd64, []string{`bad exposed port "70000"`}},
		{"bad protocol", `{"target":"//app:image","exposed_ports":["80/icmp"]}`, good, imagetest.LinuxAmd64, []string{`bad exposed port "80/icmp": protocol`}},
		{"bad created", `{"target":"//app:image","created":"yesterday"}`, good, imagetest.LinuxAmd64, []string{`//app:image: bad created time "yesterday"`}},
		{"unknown platform", `{"target":"//app:image"}`, good, oci.Platform{OS: "linux", Architecture: "foo"}, []string{`//app:image: unknown platform "linux/foo": use one of linux/amd64, linux/arm64, `, "windows/amd64"}},
		{"x86_64", `{"target":"//app:image"}`, good, oci.Platform{OS: "linux", Architecture: "x86_64"}, []string{`unknown platform "linux/x86_64"`}},
		{"bad variant", `{"target":"//app:image"}`, good, oci.Platform{OS: "linux", Architecture: "arm64", Variant: "V 8"}, []string{`variant "V 8"`}},
		{"unknown spec key", `{"target":"//app:image","entrypiont":["/x"]}`, good, imagetest.LinuxAmd64, []string{"spec.json", "entrypiont"}},
		{"bad digest", `{"target":"//app:image"}`, writeMetas(t, t.TempDir(), oci.LayerMetadata{MediaType: oci.MediaTypeLayerGzip, Digest: "sha256:abc", Size: 1, DiffID: imagetest.FakeMeta(0).DiffID}), imagetest.LinuxAmd64, []string{"//app:image: layer 1:", `"sha256:abc"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			f := imageOut(out, ImageFiles{Layers: tc.layers, Spec: imagetest.WriteSpec(t, t.TempDir(), tc.spec), Platform: tc.platform})
			imagetest.WantErr(t, WriteImage(f), tc.want...)
			if names := imagetest.DirNames(t, out); len(names) > 0 {
				t.Errorf("outputs left behind after an error: %v", names)
			}
		})
	}
}

func TestManifestWriteAllAtomic(t *testing.T) {
	dir := t.TempDir()
	err := writeAll(
		outputFile{filepath.Join(dir, "a"), []byte("a")},
		outputFile{filepath.Join(dir, "no", "such", "dir", "b"), []byte("b")},
	)
	if err == nil {
		t.Fatal("want an error")
	}
	if names := imagetest.DirNames(t, dir); len(names) > 0 {
		t.Errorf("left behind: %v", names)
	}
}

func TestManifestExpandEnv(t *testing.T) {
	vars := map[string]string{"PATH": "/bin", "A": "x", "A_1": "y"}
	for in, want := range map[string]string{
		"$PATH:/usr":      "/bin:/usr",
		"${PATH}:/usr":    "/bin:/usr",
		"$A_1$A":          "yx",
		"${A}_1":          "x_1",
		"$HOME":           "$HOME",
		"${HOME}/x":       "${HOME}/x",
		`\$PATH`:          "$PATH",
		"cost $5":         "cost $5",
		"${PATH":          "${PATH",
		"trailing $":      "trailing $",
		`back\slash $A`:   `back\slash x`,
		"${A B}":          "${A B}",
		"$$":              "$$",
		"plain":           "plain",
		"multi $A and $A": "multi x and x",
	} {
		if got := expandEnv(in, vars); got != want {
			t.Errorf("expandEnv(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestManifestParsePort(t *testing.T) {
	for in, want := range map[string]string{"80": "80/tcp", "80/tcp": "80/tcp", "53/UDP": "53/udp", "0080": "80/tcp", "9/sctp": "9/sctp"} {
		if got, err := parsePort(in); err != nil || got != want {
			t.Errorf("parsePort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65536", "-1", "+80", "80/", "a/tcp", "80/tcp/x", " 80"} {
		if got, err := parsePort(in); err == nil {
			t.Errorf("parsePort(%q) = %q, want an error", in, got)
		}
	}
}

func TestManifestContainerConfigJSON(t *testing.T) {
	in := `{"User":"u","Env":["A=1"],"Zeta":1,"Alpha":{"b":2,"a":1}}`
	var c oci.ContainerConfig
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"User":"u","Env":["A=1"],"Alpha":{"b":2,"a":1},"Zeta":1}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// Only unknown keys.
	c = oci.ContainerConfig{Extra: map[string]json.RawMessage{"X": json.RawMessage(`1`)}}
	if got, _ := json.Marshal(c); string(got) != `{"X":1}` {
		t.Errorf("got %s", got)
	}
}

// Files set fields as rules_oci's file attributes do: NAME=VALUE lines for
// env, labels and annotations, comma-separated lists for the rest. A field
// set both ways, or a line that is no pair, is an error naming the file.
func TestConfigFiles(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"env":           "MODE=serving\n\nPATH=/app:$PATH\n",
		"labels":        "org.example.team=core\nnote=a=b\n",
		"annotations":   "org.opencontainers.image.source=https://example.com/repo\n",
		"entrypoint":    "/app/server,--port,8080\n",
		"cmd":           "",
		"exposed_ports": "8080/tcp,9090",
		"volumes":       "/data",
	}
	paths := map[string]string{}
	for field, content := range files {
		paths[field] = filepath.Join(dir, field+".txt")
		imagetest.WriteFile(t, paths[field], content)
	}
	b, _ := json.Marshal(map[string]any{"target": "//app:image", "files": paths})
	c, _ := buildConfig(t, ImageFiles{Spec: imagetest.WriteSpec(t, dir, string(b)), Platform: imagetest.LinuxAmd64})
	if !slices.Contains(c.Config.Env, "MODE=serving") || c.Config.Labels["note"] != "a=b" || c.Config.Labels["org.example.team"] != "core" {
		t.Errorf("env %q labels %v", c.Config.Env, c.Config.Labels)
	}
	if strings.Join(c.Config.Entrypoint, " ") != "/app/server --port 8080" || len(c.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q", c.Config.Entrypoint, c.Config.Cmd)
	}
	if _, ok := c.Config.ExposedPorts["9090/tcp"]; !ok || len(c.Config.ExposedPorts) != 2 || len(c.Config.Volumes) != 1 {
		t.Errorf("ports %v volumes %v", c.Config.ExposedPorts, c.Config.Volumes)
	}

	for _, tc := range []struct{ spec, want string }{
		{`{"target":"//app:image","env":{"A":"1"},"files":{"env":` + strconv.Quote(paths["env"]) + `}}`, "env: set both as a dict and in "},
		{`{"target":"//app:image","files":{"user":` + strconv.Quote(paths["env"]) + `}}`, `files: no field "user"`},
		{`{"target":"//app:image","files":{"labels":` + strconv.Quote(paths["entrypoint"]) + `}}`, `labels: ` + paths["entrypoint"] + ` line 1 is "/app/server,--port,8080", not NAME=VALUE`},
	} {
		err := WriteImage(imageOut(t.TempDir(), ImageFiles{Spec: imagetest.WriteSpec(t, t.TempDir(), tc.spec), Platform: imagetest.LinuxAmd64}))
		imagetest.WantErr(t, err, "//app:image: ", tc.want)
	}
}
