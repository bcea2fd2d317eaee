package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/oci"
)

// An SBOM with the empty config: the manifest carries artifactType, the
// config is the embedded "{}", and the layer is described as it is.
func TestArtifactEmptyConfig(t *testing.T) {
	dir := t.TempDir()
	m := imagetest.FakeMeta(0)
	m.MediaType = "application/spdx+json"
	f := imageOut(dir, ImageFiles{
		Layers:   writeMetas(t, dir, m),
		Spec:     imagetest.WriteSpec(t, dir, `{"target":"//sbom","artifact_type":"application/spdx+json","config_media_type":"application/vnd.oci.empty.v1+json"}`),
		Platform: imagetest.LinuxAmd64,
	})
	if err := WriteImage(f); err != nil {
		t.Fatal(err)
	}
	if c := imagetest.ReadFile(t, f.Config); string(c) != "{}" {
		t.Errorf("config blob %q, want {}", c)
	}
	manifest := imagetest.ReadFile(t, f.Manifest)
	want := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json",` +
		`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="},` +
		`"layers":[{"mediaType":"application/spdx+json","digest":"` + m.Digest + `","size":100}]}`
	if string(manifest) != want {
		t.Errorf("manifest:\n got %s\nwant %s", manifest, want)
	}
	if d := imagetest.ReadFile(t, f.Descriptor); !strings.Contains(string(d), `"artifactType":"application/spdx+json"`) {
		t.Errorf("descriptor has no artifactType: %s", d)
	}
}

// A Helm chart: config_fragment is the config blob, byte for byte.
func TestArtifactConfigVerbatim(t *testing.T) {
	dir := t.TempDir()
	chartConfig := filepath.Join(dir, "chart.json")
	raw := "{\"name\": \"demo\",\n \"version\": \"0.1.0\"}\n"
	if err := os.WriteFile(chartConfig, []byte(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	f := imageOut(dir, ImageFiles{
		Spec:     imagetest.WriteSpec(t, dir, `{"target":"//chart","config_media_type":"application/vnd.cncf.helm.config.v1+json","config_fragment":"`+chartConfig+`"}`),
		Platform: imagetest.LinuxAmd64,
	})
	if err := WriteImage(f); err != nil {
		t.Fatal(err)
	}
	if c := imagetest.ReadFile(t, f.Config); string(c) != raw {
		t.Errorf("config blob %q, want the fragment's bytes %q", c, raw)
	}
	manifest := string(imagetest.ReadFile(t, f.Manifest))
	if !strings.Contains(manifest, `"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"`+oci.Digest([]byte(raw))+`"`) ||
		strings.Contains(manifest, "artifactType") || !strings.Contains(manifest, `"layers":[]`) {
		t.Errorf("manifest %s", manifest)
	}
}

func TestArtifactErrors(t *testing.T) {
	b0 := imagetest.FakeMeta(10)
	baseConfig, baseManifest := writeBase(t, t.TempDir(), baseConfigJSON(b0.DiffID), []oci.LayerMetadata{b0})
	for _, c := range []struct {
		spec string
		base bool
		want string
	}{
		{`{"target":"//a","config_media_type":"application/vnd.oci.empty.v1+json"}`, false,
			"//a: an artifact with the empty config (application/vnd.oci.empty.v1+json) must say what it is: set artifact_type"},
		{`{"target":"//a","config_media_type":"application/vnd.cncf.helm.config.v1+json"}`, false,
			"//a: config_media_type application/vnd.cncf.helm.config.v1+json needs its config blob: set config_fragment"},
		{`{"target":"//a","config_media_type":"helm config"}`, false,
			`//a: config_media_type "helm config" is not a media type`},
		{`{"target":"//a","config_media_type":"application/vnd.oci.empty.v1+json","artifact_type":"x"}`, false,
			`//a: artifact_type "x" is not a media type`},
		{`{"target":"//a","config_media_type":"application/vnd.oci.empty.v1+json","artifact_type":"a/b","env":{"A":"1"},"cmd":[]}`, false,
			"//a: config_media_type application/vnd.oci.empty.v1+json makes an artifact, which has no image config: remove cmd, env"},
		{`{"target":"//a","config_media_type":"application/vnd.oci.empty.v1+json","artifact_type":"a/b"}`, true,
			"//a: config_media_type application/vnd.oci.empty.v1+json makes an artifact, which has no image config to inherit: remove base"},
	} {
		f := imageOut(t.TempDir(), ImageFiles{Spec: imagetest.WriteSpec(t, t.TempDir(), c.spec), Platform: imagetest.LinuxAmd64})
		if c.base {
			f.BaseConfig, f.BaseManifest = baseConfig, baseManifest
		}
		err := WriteImage(f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.spec, err, c.want)
		}
	}
}
