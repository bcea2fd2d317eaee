package signers

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/sign"
)

// What cosign 3 attaches when it signs an image: a Sigstore bundle whose
// DSSE envelope carries an in-toto statement about the image's digest.
const (
	bundleType         = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cosignSignType     = "https://sigstore.dev/cosign/sign/v1"
	inTotoStatementV1  = "https://in-toto.io/Statement/v1"
	noTlogSigningConfg = `{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json","rekorTlogConfig":{},"tsaConfig":{}}`
)

// cosign signs with `cosign attest-blob --statement`: the statement is the
// one `cosign sign` makes, so `cosign verify` accepts the result as an
// image signature.
func cosign(ctx context.Context, args []string, subject oci.Descriptor, stderr io.Writer) ([]byte, [][]byte, error) {
	return cosignStatement(ctx, args, subject, stderr, false)
}

// cosignAttest signs an in-toto statement of the predicate about subject,
// as `cosign attest` does: `cosign verify-attestation --type` reads it.
func cosignAttest(ctx context.Context, args []string, subject oci.Descriptor, stderr io.Writer) ([]byte, [][]byte, error) {
	return cosignStatement(ctx, args, subject, stderr, true)
}

func cosignStatement(ctx context.Context, args []string, subject oci.Descriptor, stderr io.Writer, attest bool) ([]byte, [][]byte, error) {
	fs := flag.NewFlagSet("img signer cosign", flag.ContinueOnError)
	predicateType := fs.String("predicate-type", "", "attest-oci-artifact: the predicate's type URI")
	predicateFile := fs.String("predicate", "", "attest-oci-artifact: the predicate JSON file")
	fs.SetOutput(stderr)
	key := fs.String("key", "", "cosign private key file or KMS URI (an encrypted key reads its password from $COSIGN_PASSWORD); empty: keyless (an OIDC token from --identity-token or $SIGSTORE_ID_TOKEN)")
	tlog := fs.Bool("tlog-upload", true, "record the signature in a transparency log; false signs offline")
	signingConfig := fs.String("signing-config", "", "cosign signing config file (services to use)")
	identityToken := fs.String("identity-token", "", "OIDC identity token (or a file holding it) for keyless signing")
	bin := fs.String("cosign", "", "the cosign program (default: cosign on PATH)")
	annotations := map[string]string{}
	fs.Func("a", "KEY=VALUE annotation signed with the image (repeatable); `cosign verify -a` checks it", func(s string) error {
		k, v, err := keyValue(s)
		annotations[k] = v
		return err
	})
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	path, err := lookPath(*bin, "cosign", "cosign")
	if err != nil {
		return nil, nil, err
	}
	predType, predicate := cosignSignType, json.RawMessage(`{}`)
	if attest {
		if *predicateType == "" || *predicateFile == "" {
			return nil, nil, fmt.Errorf("%s needs --predicate-type and --predicate", sign.AttestVerb)
		}
		b, err := os.ReadFile(*predicateFile)
		if err != nil {
			return nil, nil, err
		}
		if !json.Valid(b) {
			return nil, nil, fmt.Errorf("predicate %s is not JSON", *predicateFile)
		}
		predType, predicate = *predicateType, b
	}
	alg, hex, _ := strings.Cut(subject.Digest, ":")
	statement, err := oci.Marshal(map[string]any{
		"_type":         inTotoStatementV1,
		"subject":       []any{map[string]any{"digest": map[string]string{alg: hex}, "annotations": annotations}},
		"predicateType": predType,
		"predicate":     predicate,
	})
	if err != nil {
		return nil, nil, err
	}
	dir := tempDir(ctx)
	stmt, bundle := filepath.Join(dir, "statement.json"), filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(stmt, statement, 0o600); err != nil {
		return nil, nil, err
	}
	cmd := []string{"attest-blob", "--statement", stmt, "--bundle", bundle, "--yes"}
	if *key != "" {
		cmd = append(cmd, "--key", *key)
	}
	if *identityToken != "" {
		cmd = append(cmd, "--identity-token", *identityToken)
	}
	switch {
	case *signingConfig != "":
		cmd = append(cmd, "--signing-config", *signingConfig)
	case !*tlog:
		// cosign 3 takes "no transparency log" as a signing config without one.
		sc := filepath.Join(dir, "signing-config.json")
		if err := os.WriteFile(sc, []byte(noTlogSigningConfg), 0o600); err != nil {
			return nil, nil, err
		}
		cmd = append(cmd, "--signing-config", sc)
	}
	if err := run(ctx, stderr, path, cmd...); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(bundle)
	if err != nil {
		return nil, nil, fmt.Errorf("cosign wrote no bundle: %w", err)
	}
	return sign.Artifact{
		Subject:      subject,
		ArtifactType: bundleType,
		Layers:       []sign.Blob{{MediaType: bundleType, Data: b}},
		Annotations: map[string]string{
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": predType,
		},
	}.Manifest()
}
