package signers

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/sign"
)

// fakeCosign stands in for the cosign CLI (the e2e tests run the real one):
// it writes a bundle where --bundle says, after some chatter, or fails.
func fakeCosign(t *testing.T, fail bool) string {
	t.Helper()
	script := `#!/bin/sh
echo "WARNING: chatter" >&2
while [ $# -gt 0 ]; do
  if [ "$1" = --bundle ]; then bundle=$2; fi
  if [ "$1" = --statement ]; then cp "$2" "$(dirname "$0")/statement.json"; fi
  shift
done
`
	if fail {
		script += "echo 'error: decrypting the key: wrong password' >&2\nexit 4\n"
	} else {
		script += `echo '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}' > "$bundle"` + "\n"
	}
	p := filepath.Join(t.TempDir(), "cosign")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCosignPlugin(t *testing.T) {
	manifest := []byte(`{"schemaVersion":2}`)
	subject := oci.DescriptorFor(oci.MediaTypeManifest, manifest)
	in, _ := oci.Marshal(subject)
	fake := fakeCosign(t, false)
	var out, errs bytes.Buffer
	if err := Main("cosign", []string{sign.Verb, "--cosign", fake, "--key", "k", "-a", "team=e2e"}, bytes.NewReader(in), &out, &errs); err != nil {
		t.Fatal(err)
	}
	if errs.Len() != 0 {
		t.Errorf("a successful signature printed %q", errs.String())
	}
	img, err := sign.ReadArtifact(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	raw := string(img.Manifests[0].Raw)
	if !strings.Contains(raw, `"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"`) || !strings.Contains(raw, subject.Digest) {
		t.Errorf("artifact manifest %s", raw)
	}
	stmt, _ := os.ReadFile(filepath.Join(filepath.Dir(fake), "statement.json"))
	if !strings.Contains(string(stmt), `"predicateType":"https://sigstore.dev/cosign/sign/v1"`) || !strings.Contains(string(stmt), `"team":"e2e"`) {
		t.Errorf("statement %s", stmt)
	}

	errs.Reset()
	err = Main("cosign", []string{sign.Verb, "--cosign", fakeCosign(t, true)}, bytes.NewReader(in), &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "exit status 4") || !strings.Contains(errs.String(), "wrong password") {
		t.Errorf("a failing cosign: err = %v, stderr %q: want its status and its messages", err, errs.String())
	}
}

func TestPluginInput(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"no descriptor", "hello", "no OCI descriptor"},
		{"data that is not the subject", `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2,"data":"e30="}`, "do not hash to"},
	} {
		var out, errs bytes.Buffer
		if err := Main("cosign", []string{sign.Verb}, strings.NewReader(c.in), &out, &errs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	var out, errs bytes.Buffer
	if err := Main("notation", []string{sign.AttestVerb}, strings.NewReader("{}"), &out, &errs); err == nil || !strings.Contains(err.Error(), "does not attest") {
		t.Errorf("notation attest: %v", err)
	}
}
