//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/e2e/harness"
)

// TestSupplyChain signs what e2e/workspace/supply_chain pushes, with the
// cosign and notation plugins, and attaches SBOMs and provenance as
// referrers. Real verifiers decide: cosign verify and verify-attestation
// (offline, a key pair made here), notation verify (a test certificate),
// oras discover. CNCF Distribution has no Referrers API, so the pushes keep
// the OCI 1.1 fallback tag there; img registry answers the API itself.
func TestSupplyChain(t *testing.T) {
	for _, tool := range []string{"cosign", "notation", "oras"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: tools/setup.sh installs it", tool)
		}
	}
	reg, err := harness.StartRegistry(harness.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)

	// Secrets, as a release job would have them: in the environment.
	dir := t.TempDir()
	password, key, pub := cosignKeys(t, dir)
	xdg := filepath.Join(dir, "xdg")
	notationEnv := append(os.Environ(), "XDG_CONFIG_HOME="+xdg)
	run := func(env []string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(notationEnv, "notation", "cert", "generate-test", "--default", "e2e.test"); err != nil {
		t.Fatalf("notation cert generate-test: %v\n%s", err, out)
	}
	policy := `{"version":"1.0","trustPolicies":[{"name":"e2e","registryScopes":["*"],` +
		`"signatureVerification":{"level":"strict"},"trustStores":["ca:e2e.test"],"trustedIdentities":["*"]}]}`
	if err := os.WriteFile(filepath.Join(xdg, "notation", "trustpolicy.json"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &harness.Bazel{Workspace: ws.Workspace, Env: []string{
		"COSIGN_PASSWORD=" + password, "COSIGN_KEY=" + key, "XDG_CONFIG_HOME=" + xdg,
	}}
	var outputs []string
	push := func(t *testing.T, target string, flags []string, args ...string) (string, error) {
		t.Helper()
		out, err := bazelRun(t, b, target, flags, append([]string{"--registry", reg.Addr()}, args...)...)
		outputs = append(outputs, out)
		return out, err
	}
	cosignVerify := func(ref string, args ...string) (string, error) {
		return run(os.Environ(), "cosign", append(append([]string{"verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry"}, args...), ref)...)
	}
	digestOf := func(repo, ref string) string {
		t.Helper()
		_, d, err := harness.RawManifest(reg.Addr(), repo, ref)
		if err != nil {
			t.Fatalf("%s:%s: %v", repo, ref, err)
		}
		return d
	}
	referrerTypes := func(t *testing.T, ref string) []string {
		t.Helper()
		out, err := run(os.Environ(), "oras", "discover", "--plain-http", "--format", "json", ref)
		if err != nil {
			t.Fatalf("oras discover %s: %v\n%s", ref, err, out)
		}
		var tree struct {
			Referrers []struct {
				ArtifactType string `json:"artifactType"`
			} `json:"referrers"`
		}
		if err := json.Unmarshal([]byte(out), &tree); err != nil {
			t.Fatalf("oras discover: %v\n%s", err, out)
		}
		var types []string
		for _, r := range tree.Referrers {
			types = append(types, r.ArtifactType)
		}
		return types
	}

	t.Run("cosign signature, SBOMs, provenance and attestations", func(t *testing.T) {
		out, err := push(t, "//supply_chain:push_cosign", nil)
		if err != nil {
			t.Fatal(err)
		}
		ref := reg.Addr() + "/e2e/signed:v1"
		if vout, err := cosignVerify(ref); err != nil {
			t.Fatalf("cosign verify %s: %v\n%s\npush:\n%s", ref, err, vout, tailLines(out, 30))
		}
		for _, typ := range []string{"spdxjson", "cyclonedx", "slsaprovenance1"} {
			if vout, err := run(os.Environ(), "cosign", "verify-attestation", "--key", pub, "--insecure-ignore-tlog",
				"--allow-insecure-registry", "--type", typ, ref); err != nil {
				t.Errorf("cosign verify-attestation --type %s: %v\n%s", typ, err, tailLines(vout, 10))
			}
		}
		types := strings.Join(referrerTypes(t, ref), " ")
		for _, want := range []string{"application/vnd.dev.sigstore.bundle.v0.3+json", "application/spdx+json",
			"application/vnd.cyclonedx+json", "application/vnd.in-toto+json"} {
			if !strings.Contains(types, want) {
				t.Errorf("oras discover lists %s, want %s among them", types, want)
			}
		}
		// Distribution has no Referrers API: the fallback tag holds them.
		tags, err := harness.Crane("ls", "--insecure", reg.Addr()+"/e2e/signed")
		if err != nil || !strings.Contains(tags, "sha256-"+strings.TrimPrefix(digestOf("e2e/signed", "v1"), "sha256:")) {
			t.Errorf("tags of e2e/signed: %v %q, want the referrers fallback tag", err, tags)
		}
		t.Run("a second push signs again", func(t *testing.T) {
			if _, err := push(t, "//supply_chain:push_cosign", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := cosignVerify(ref); err != nil {
				t.Fatal(err)
			}
		})
	})

	t.Run("unsigned image and moved tag fail verification", func(t *testing.T) {
		// push_auto is signed only with --@rules_img//img/settings:sign.
		if _, err := push(t, "//supply_chain:push_auto", nil, "--repository", "e2e/unsigned"); err != nil {
			t.Fatal(err)
		}
		if out, err := cosignVerify(reg.Addr() + "/e2e/unsigned:v1"); err == nil {
			t.Errorf("cosign verify passed on an unsigned image:\n%s", out)
		}
		signed := reg.Addr() + "/e2e/signed@" + digestOf("e2e/signed", "v1")
		// Another image takes the signed image's tag.
		if _, err := push(t, "//supply_chain:push_auto", nil, "--repository", "e2e/signed"); err != nil {
			t.Fatal(err)
		}
		if out, err := cosignVerify(reg.Addr() + "/e2e/signed:v1"); err == nil {
			t.Errorf("cosign verify passed after the tag moved to an unsigned image:\n%s", out)
		}
		if out, err := cosignVerify(signed); err != nil {
			t.Errorf("the signed image by digest: %v\n%s", err, out)
		}
		// The setting signs targets whose sign is auto.
		if _, err := push(t, "//supply_chain:push_auto", []string{"--@rules_img//img/settings:sign=enabled"}, "--repository", "e2e/by-setting"); err != nil {
			t.Fatal(err)
		}
		if out, err := cosignVerify(reg.Addr() + "/e2e/by-setting:v1"); err != nil {
			t.Errorf("signed by --@rules_img//img/settings:sign=enabled: %v\n%s", err, out)
		}
	})

	t.Run("an index and each of its manifests", func(t *testing.T) {
		if _, err := push(t, "//supply_chain:push_index", nil); err != nil {
			t.Fatal(err)
		}
		raw, digest, err := harness.RawManifest(reg.Addr(), "e2e/signed-index", "v1")
		if err != nil {
			t.Fatal(err)
		}
		var idx manifest
		json.Unmarshal(raw, &idx)
		refs := []string{digest}
		for _, m := range idx.Manifests {
			refs = append(refs, m.Digest)
		}
		if len(refs) != 3 {
			t.Fatalf("index %s lists %d manifests", digest, len(refs)-1)
		}
		for _, d := range refs {
			if out, err := cosignVerify(reg.Addr() + "/e2e/signed-index@" + d); err != nil {
				t.Errorf("cosign verify %s: %v\n%s", d, err, tailLines(out, 5))
			}
		}
	})

	t.Run("notation", func(t *testing.T) {
		if _, err := push(t, "//supply_chain:push_notation", nil); err != nil {
			t.Fatal(err)
		}
		ref := reg.Addr() + "/e2e/notary@" + digestOf("e2e/notary", "v1")
		if out, err := run(notationEnv, "notation", "verify", "--insecure-registry", ref); err != nil {
			t.Errorf("notation verify %s: %v\n%s", ref, err, out)
		}
		if out, err := run(notationEnv, "notation", "verify", "--insecure-registry", reg.Addr()+"/e2e/unsigned@"+digestOf("e2e/unsigned", "v1")); err == nil {
			t.Errorf("notation verify passed on an unsigned image:\n%s", out)
		}
		if types := referrerTypes(t, ref); len(types) != 1 || types[0] != "application/vnd.cncf.notary.signature" {
			t.Errorf("referrers of the notation-signed image: %v", types)
		}
	})

	t.Run("multi_deploy signs each push", func(t *testing.T) {
		// Fresh repositories: the pushes of the subtests above are elsewhere.
		reg2, err := harness.StartRegistry(harness.RegistryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(reg2.Stop)
		out, err := bazelRun(t, b, "//supply_chain:deploy_signed", nil, "--registry", reg2.Addr())
		outputs = append(outputs, out)
		if err != nil {
			t.Fatal(err)
		}
		_, d, err := harness.RawManifest(reg2.Addr(), "e2e/notary", "v1")
		if err != nil {
			t.Fatal(err)
		}
		if vout, err := run(notationEnv, "notation", "verify", "--insecure-registry", reg2.Addr()+"/e2e/notary@"+d); err != nil {
			t.Errorf("notation verify: %v\n%s", err, vout)
		}
		if vout, err := cosignVerify(reg2.Addr() + "/e2e/signed-index:v1"); err != nil {
			t.Errorf("cosign verify: %v\n%s", err, vout)
		}
	})

	t.Run("rules_oci's cosign_sign and cosign_attest", func(t *testing.T) {
		if _, err := push(t, "//supply_chain:push_oci_door", nil); err != nil {
			t.Fatal(err)
		}
		// cosign 3 signs without a transparency log given a signing config without one.
		config := filepath.Join(dir, "signing-config.json")
		os.WriteFile(config, []byte(`{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","rekorTlogConfig":{},"tsaConfig":{}}`), 0o644)
		cosignArgs := []string{"--repository=" + reg.Addr() + "/e2e/oci-door", "--key=env://COSIGN_KEY", "--signing-config=" + config, "--allow-insecure-registry"}
		for _, target := range []string{"//supply_chain:oci_sign", "//supply_chain:oci_attest"} {
			out, err := bazelRun(t, b, target, nil, cosignArgs...)
			outputs = append(outputs, out)
			if err != nil {
				t.Fatal(err)
			}
		}
		ref := reg.Addr() + "/e2e/oci-door:v1"
		if vout, err := cosignVerify(ref); err != nil {
			t.Errorf("cosign verify after cosign_sign: %v\n%s", err, vout)
		}
		if vout, err := run(os.Environ(), "cosign", "verify-attestation", "--key", pub, "--insecure-ignore-tlog",
			"--allow-insecure-registry", "--type", "spdxjson", ref); err != nil {
			t.Errorf("cosign verify-attestation after cosign_attest: %v\n%s", err, tailLines(vout, 10))
		}
	})

	t.Run("a failing plugin", func(t *testing.T) {
		out, err := push(t, "//supply_chain:push_failing", nil)
		if err == nil {
			t.Fatalf("sign = enabled with a failing plugin pushed:\n%s", out)
		}
		for _, want := range []string{"//supply_chain:push_failing", "signer //supply_chain:failing", "exited with status 1", "nothing was tagged"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, tailLines(out, 10))
			}
		}
		if _, _, err := harness.RawManifest(reg.Addr(), "e2e/failing", "v1"); err == nil {
			t.Error("the tag of an image whose signing failed was written")
		}
		out, err = push(t, "//supply_chain:push_best_effort", nil)
		if err != nil {
			t.Fatalf("sign = best_effort failed the push: %v", err)
		}
		if !strings.Contains(out, "warning: signer //supply_chain:failing") || !strings.Contains(out, "tagged "+reg.Addr()+"/e2e/best-effort:v1") {
			t.Errorf("best_effort: want a warning and the tag:\n%s", tailLines(out, 10))
		}
	})

	t.Run("img registry serves the Referrers API", func(t *testing.T) {
		casd, err := harness.StartCasd(harness.CasdOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(casd.Stop)
		creg, err := harness.StartCASRegistry("grpc://"+casd.Addr(), "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(creg.Stop)
		out, err := bazelRun(t, b, "//supply_chain:push_cosign", nil, "--registry", creg.Addr())
		outputs = append(outputs, out)
		if err != nil {
			t.Fatal(err)
		}
		ref := creg.Addr() + "/e2e/signed:v1"
		if vout, err := run(os.Environ(), "cosign", "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", ref); err != nil {
			t.Errorf("cosign verify %s: %v\n%s", ref, err, vout)
		}
		if types := referrerTypes(t, ref); len(types) < 5 {
			t.Errorf("referrers through the API: %v", types)
		}
		tags, err := harness.Crane("ls", "--insecure", creg.Addr()+"/e2e/signed")
		if err != nil || strings.Contains(tags, "sha256-") {
			t.Errorf("tags of e2e/signed in img registry: %v %q: want no fallback tag where the API answers", err, tags)
		}
	})

	t.Run("no secret in outputs", func(t *testing.T) {
		for _, out := range outputs {
			if strings.Contains(out, password) || strings.Contains(out, "PRIVATE KEY") {
				t.Fatalf("a bazel run printed the key or its password:\n%s", out)
			}
		}
		bin, err := b.Info("bazel-bin")
		if err != nil {
			t.Fatal(err)
		}
		filepath.Walk(filepath.Join(bin, "supply_chain"), func(p string, info os.FileInfo, err error) error {
			if err != nil || !info.Mode().IsRegular() {
				return nil
			}
			if data, err := os.ReadFile(p); err == nil && (strings.Contains(string(data), password) || strings.Contains(string(data), "ENCRYPTED SIGSTORE PRIVATE KEY")) {
				t.Errorf("%s holds the key or its password", p)
			}
			return nil
		})
	})
}

// cosignKeys makes a cosign key pair in dir, encrypted with a random
// password: the password, the private key (PEM) and the public key's path.
func cosignKeys(t *testing.T, dir string) (password, key, pub string) {
	t.Helper()
	secret := make([]byte, 12)
	rand.Read(secret)
	password = "pw-" + hex.EncodeToString(secret)
	keygen := exec.Command("cosign", "generate-key-pair")
	keygen.Dir, keygen.Env = dir, append(os.Environ(), "COSIGN_PASSWORD="+password)
	if out, err := keygen.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cosign.key"))
	if err != nil {
		t.Fatal(err)
	}
	return password, string(b), filepath.Join(dir, "cosign.pub")
}
