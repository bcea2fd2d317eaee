package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/oci"
)

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture writes a one-layer image and a spec naming it (with the blob in
// the "runfiles" when withBlob), and returns the spec path and layer bytes.
func fixture(t *testing.T, dir string, withBlob bool) (string, []byte) {
	t.Helper()
	layer := []byte("pretend this is a gzip tar")
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:00"]}}`)
	ld := oci.DescriptorFor(oci.MediaTypeLayerGzip, layer)
	manifest := mustJSON(t, oci.Manifest{
		SchemaVersion: 2, MediaType: oci.MediaTypeManifest,
		Config: oci.DescriptorFor(oci.MediaTypeConfig, config),
		Layers: []oci.Descriptor{ld},
	})
	md := oci.DescriptorFor(oci.MediaTypeManifest, manifest)
	md.Platform = &oci.Platform{OS: "linux", Architecture: "amd64"}
	ls := LayerSpec{Metadata: write(t, dir, "app/l.layer.json", mustJSON(t, oci.LayerMetadata{
		MediaType: ld.MediaType, Digest: ld.Digest, Size: ld.Size, DiffID: "sha256:00",
	}))}
	if withBlob {
		ls.Blob = write(t, dir, "app/l.tar.gz", layer)
	}
	spec := Spec{
		Operation: "push", Label: "//app:push",
		Image: ImageSpec{Manifests: []ManifestSpec{{
			Manifest:   write(t, dir, "app/m.json", manifest),
			Config:     write(t, dir, "app/c.json", config),
			Descriptor: write(t, dir, "app/d.json", mustJSON(t, md)),
			Layers:     []LayerSpec{ls},
		}}},
		Tags: []string{"v1", "{{.STABLE_X}}"},
	}
	return filepath.Join(dir, write(t, dir, "push.deploy.json", mustJSON(t, spec))), layer
}

func readLayer(t *testing.T, s *Spec, src Sources) (string, error) {
	t.Helper()
	img, err := s.BuildImage(src)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := img.Manifests[0].Layers[0].Open(context.Background())
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func TestBuildImageFromRunfiles(t *testing.T) {
	dir := t.TempDir()
	path, layer := fixture(t, dir, true)
	s, err := ReadSpec(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readLayer(t, s, Sources{})
	if err != nil || got != string(layer) {
		t.Fatalf("layer = %q, %v", got, err)
	}
	img, _ := s.BuildImage(Sources{})
	if img.IsIndex() || img.Manifests[0].Platform.Architecture != "amd64" || img.RootDigest() != img.Manifests[0].Digest {
		t.Errorf("image = %+v", img)
	}
}

func TestLayerFromDiskCacheAndEviction(t *testing.T) {
	dir := t.TempDir()
	path, layer := fixture(t, dir, false)
	s, err := ReadSpec(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readLayer(t, s, Sources{}); err == nil || !strings.Contains(err.Error(), "no remote cache") {
		t.Errorf("without bytes or cache: %v", err)
	}
	cacheDir := t.TempDir()
	store, err := cas.Open(cacheDir, cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readLayer(t, s, Sources{Cache: store}); err == nil || !strings.Contains(err.Error(), "evicted") {
		t.Errorf("blob missing from the cache: %v", err)
	}
	d := oci.Digest(layer)[len("sha256:"):]
	write(t, cacheDir, filepath.Join("cas", d[:2], d), layer)
	if got, err := readLayer(t, s, Sources{Cache: store}); err != nil || got != string(layer) {
		t.Errorf("from the disk cache: %q, %v", got, err)
	}
	write(t, cacheDir, filepath.Join("cas", d[:2], d), []byte("other bytes of the same length!!"[:len(layer)]))
	if _, err := readLayer(t, s, Sources{Cache: store}); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("corrupt cache entry: %v", err)
	}
}

func TestManifestMismatchIsAnError(t *testing.T) {
	dir := t.TempDir()
	path, _ := fixture(t, dir, true)
	write(t, dir, "app/m.json", []byte(`{"schemaVersion":2}`))
	s, err := ReadSpec(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BuildImage(Sources{}); err == nil || !strings.Contains(err.Error(), "//app:push") {
		t.Errorf("stale manifest: %v", err)
	}
}

func TestStampAndTagFile(t *testing.T) {
	dir := t.TempDir()
	path, _ := fixture(t, dir, true)
	var s Spec
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &s)
	s.Stamped = write(t, dir, "push.stamp.json", mustJSON(t, Stamp{Repository: "team/abc", Tags: []string{"v1", "abc"}}))
	s.TagFile = write(t, dir, "tags.txt", []byte("# comment\nextra\n\n"))
	write(t, dir, "push.deploy.json", mustJSON(t, s))
	rs, err := ReadSpec(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Repository != "team/abc" || strings.Join(rs.Tags, ",") != "v1,abc,extra" {
		t.Errorf("stamped spec: repository %q tags %v", rs.Repository, rs.Tags)
	}
}

// Build settings and the digest fill templates whether or not the build is
// stamped; a status key fills only when stamped, and is otherwise kept so
// that the deploy can skip the tag with a notice.
func TestTemplatesFill(t *testing.T) {
	tpl := Templates{
		Registry:   "{{.REGISTRY}}",
		Repository: "team/{{.APP}}",
		Tags:       []string{"{{.VERSION}}", "sha-{{.digest}}", "{{.STABLE_GIT_COMMIT}}"},
	}
	vars := map[string]string{"REGISTRY": "ghcr.io", "APP": "api", "VERSION": "1.2", "digest": "sha256:ab"}
	st, err := tpl.Fill(vars, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Registry != "ghcr.io" || st.Repository != "team/api" || strings.Join(st.Tags, ",") != "1.2,sha-sha256:ab,{{.STABLE_GIT_COMMIT}}" {
		t.Errorf("unstamped fill = %+v", st)
	}
	if _, err := tpl.Fill(vars, true); err == nil || !strings.Contains(err.Error(), "tag:") || !strings.Contains(err.Error(), "STABLE_GIT_COMMIT") {
		t.Errorf("stamped fill with a missing status key: %v", err)
	}
	vars["STABLE_GIT_COMMIT"] = "c0ffee"
	if st, err := tpl.Fill(vars, true); err != nil || st.Tags[2] != "c0ffee" {
		t.Errorf("stamped fill = %+v, %v", st, err)
	}
	if _, err := (Templates{Tags: []string{"{{.A"}}).Fill(vars, false); err == nil || !strings.Contains(err.Error(), "not a valid template") {
		t.Errorf("broken template without stamping: %v, want an error", err)
	}
}

// manifest_tags are filled once per manifest, with its platform's keys;
// build settings win over a platform key of the same name.
func TestTemplatesFillManifestTags(t *testing.T) {
	tpl := Templates{
		Tags:         []string{"latest"},
		ManifestTags: []string{"{{.VERSION}}-{{.os}}-{{.architecture}}{{.variant}}", "{{.cpu}}-{{.STABLE_X}}"},
		Platforms: []map[string]string{
			{"os": "linux", "architecture": "amd64", "cpu": "amd64", "variant": "", "platform": "linux/amd64"},
			{"os": "linux", "architecture": "arm", "cpu": "arm", "variant": "v7", "platform": "linux/arm/v7"},
		},
	}
	st, err := tpl.Fill(map[string]string{"VERSION": "2"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Unstamped, a tag that needs the workspace status stays as written (the
	// deploy skips it with a notice).
	want := [][]string{{"2-linux-amd64", "{{.cpu}}-{{.STABLE_X}}"}, {"2-linux-armv7", "{{.cpu}}-{{.STABLE_X}}"}}
	if fmt.Sprint(st.ManifestTags) != fmt.Sprint(want) {
		t.Errorf("manifest tags = %v, want %v", st.ManifestTags, want)
	}
	_, err = tpl.Fill(map[string]string{"VERSION": "2"}, true)
	if err == nil || !strings.Contains(err.Error(), "manifest_tags (manifest 0, linux/amd64)") {
		t.Errorf("stamped fill without STABLE_X: %v", err)
	}
}

// destination_file names the registry and the repository at run time.
func TestDestinationFile(t *testing.T) {
	dir := t.TempDir()
	path, _ := fixture(t, dir, true)
	var s Spec
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &s)
	for content, want := range map[string]string{
		"ghcr.io/team/app\n": "ghcr.io team/app",
		"localhost:5000/x":   "localhost:5000 x",
		"no-slash\n":         "want one line REGISTRY/REPOSITORY",
		"a/b\nc/d\n":         "want one line REGISTRY/REPOSITORY",
	} {
		s.DestinationFile = write(t, dir, "dest.txt", []byte(content))
		write(t, dir, "push.deploy.json", mustJSON(t, s))
		rs, err := ReadSpec(path, dir)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = rs.Registry + " " + rs.Repository
		}
		if !strings.Contains(got, want) {
			t.Errorf("destination_file %q: got %q, want %q", content, got, want)
		}
	}
}

// A push request carries everything but the layer bytes: read back without
// the files it came from, it gives the same image, and its layers open from
// the cache.
func TestPushRequest(t *testing.T) {
	dir := t.TempDir()
	path, layer := fixture(t, dir, true)
	var s Spec
	b, _ := os.ReadFile(path)
	json.Unmarshal(b, &s)
	s.Stamped = write(t, dir, "push.stamp.json", mustJSON(t, Stamp{Registry: "r.example", Repository: "team/abc", Tags: []string{"v1"}, ManifestTags: [][]string{{"v1-amd64"}}}))
	s.RegistryCredentialHelper = "/build/machine/helper"
	s.SourceAccess = &Access{DockerConfig: "/home/u/.docker/config.json", Insecure: true}
	s.RemoteCache = "grpc://build-machine:1"
	write(t, dir, "push.deploy.json", mustJSON(t, s))
	rs, err := ReadSpec(path, dir)
	if err != nil {
		t.Fatal(err)
	}
	req, err := rs.Request()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := rs.Request()
	if string(again) != string(req) {
		t.Error("two requests of one spec differ")
	}
	for _, leak := range []string{dir, "config.json", "build-machine", "l.tar.gz", "/build/machine/helper"} {
		if strings.Contains(string(req), leak) {
			t.Errorf("the request names %q, which only means something on the build machine:\n%s", leak, req)
		}
	}
	want, err := rs.BuildImage(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	got, err := ParseRequest(req, "push.img_push.json")
	if err != nil {
		t.Fatal(err)
	}
	if got.Registry != "r.example" || got.Repository != "team/abc" || strings.Join(got.Tags, ",") != "v1" || !got.SourceAccess.Insecure ||
		fmt.Sprint(got.ManifestTags) != "[[v1-amd64]]" || got.RegistryCredentialHelper != "" {
		t.Errorf("request: %+v", got)
	}
	cacheDir := t.TempDir()
	d := oci.Digest(layer)[len("sha256:"):]
	write(t, cacheDir, filepath.Join("cas", d[:2], d), layer)
	store, _ := cas.Open(cacheDir, cas.Options{})
	img, err := got.BuildImage(Sources{Cache: store})
	if err != nil {
		t.Fatal(err)
	}
	if img.RootDigest() != want.RootDigest() {
		t.Errorf("digest %s, want %s", img.RootDigest(), want.RootDigest())
	}
	if l, err := readLayer(t, got, Sources{Cache: store}); err != nil || l != string(layer) {
		t.Errorf("layer from the cache: %q %v", l, err)
	}
	if _, err := ParseRequest(b, "push.deploy.json"); err == nil || !strings.Contains(err.Error(), "not a push request") {
		t.Errorf("a plain spec taken for a request: %v", err)
	}
}

func TestUnknownStrategy(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "spec.json")
	os.WriteFile(p, []byte(`{"operation": "push", "label": "//a:push", "strategy": "eagre", "image": {"manifests": [{}]}}`), 0o644)
	_, err := ReadSpec(p, root)
	if err == nil || !strings.Contains(err.Error(), `//a:push`) || !strings.Contains(err.Error(), `unknown strategy "eagre"; use one of eager, lazy, cas_registry, bes`) {
		t.Fatalf("got %v", err)
	}
}

// A manifest's SOCI index becomes its artifact, with the ztocs it lists; a
// manifest that names another SOCI index, or a missing ztoc, is an error.
func TestSociIndexTravels(t *testing.T) {
	dir := t.TempDir()
	ztoc := []byte("a ztoc")
	sociConfig := []byte("{}")
	sociManifest := mustJSON(t, oci.Manifest{
		SchemaVersion: 2, MediaType: oci.MediaTypeManifest,
		Config: oci.DescriptorFor("application/vnd.amazon.soci.index.v2+json", sociConfig),
		Layers: []oci.Descriptor{oci.DescriptorFor("application/octet-stream", ztoc)},
	})
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	image := func(named string) []byte {
		return mustJSON(t, oci.Manifest{
			SchemaVersion: 2, MediaType: oci.MediaTypeManifest,
			Config:      oci.DescriptorFor(oci.MediaTypeConfig, config),
			Layers:      []oci.Descriptor{},
			Annotations: map[string]string{"com.amazon.soci.index-digest": named},
		})
	}
	spec := func(manifest []byte, ztocs ...string) *Spec {
		md := oci.DescriptorFor(oci.MediaTypeManifest, manifest)
		md.Platform = &oci.Platform{OS: "linux", Architecture: "amd64"}
		s := Spec{Operation: "push", Label: "//app:push", Image: ImageSpec{Manifests: []ManifestSpec{{
			Manifest:   write(t, dir, "m.json", manifest),
			Config:     write(t, dir, "c.json", config),
			Descriptor: write(t, dir, "d.json", mustJSON(t, md)),
			Layers:     []LayerSpec{},
			Soci: &SociSpec{
				Manifest: write(t, dir, "soci.json", sociManifest),
				Config:   write(t, dir, "soci_config.json", sociConfig),
				Ztocs:    ztocs,
			},
		}}}}
		r, err := ReadSpec(filepath.Join(dir, write(t, dir, "push.deploy.json", mustJSON(t, s))), dir)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	empty := write(t, dir, "empty.ztoc", nil)
	z := write(t, dir, "z.ztoc", ztoc)

	img, err := spec(image(oci.Digest(sociManifest)), empty, z).BuildImage(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	a := img.Manifests[0].Artifacts
	if len(a) != 1 || a[0].Digest != oci.Digest(sociManifest) || len(a[0].Layers) != 1 || a[0].Platform.Architecture != "amd64" {
		t.Fatalf("artifacts %+v", a)
	}
	rc, err := a[0].Layers[0].Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); string(b) != string(ztoc) {
		t.Errorf("ztoc %q", b)
	}
	rc.Close()

	if _, err := spec(image("sha256:0000"), z).BuildImage(Sources{}); err == nil || !strings.Contains(err.Error(), "names SOCI index") {
		t.Errorf("a manifest naming another SOCI index: %v", err)
	}
	if _, err := spec(image(oci.Digest(sociManifest)), empty).BuildImage(Sources{}); err == nil || !strings.Contains(err.Error(), "not among its files") {
		t.Errorf("a missing ztoc: %v", err)
	}
}
