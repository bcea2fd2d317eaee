// Package signers holds img's own signer plugins, `img signer cosign` and
// `img signer notation`. Each drives the signing ecosystem's own CLI for
// the cryptography, so img links no signing library, and turns its output
// into the artifact of the sign-oci-artifact protocol (see pkg/sign).
package signers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/sign"
)

// readSubject reads the descriptor the protocol writes on stdin.
func readSubject(r io.Reader) (oci.Descriptor, error) {
	var d oci.Descriptor
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("stdin holds no OCI descriptor: %v", err)
	}
	if err := oci.CheckDigest(d.Digest); err != nil || !d.MediaType.Valid() {
		return d, fmt.Errorf("stdin holds no OCI descriptor: digest %q, media type %q", d.Digest, d.MediaType)
	}
	if d.Data != nil && (oci.Digest(d.Data) != d.Digest || int64(len(d.Data)) != d.Size) {
		return d, fmt.Errorf("the descriptor's data do not hash to its digest %s", d.Digest)
	}
	return d, nil
}

// run runs a signing CLI. Its chatter (cosign's warning that it cannot
// reach the public TUF root, its progress lines) reaches stderr only when it
// fails; the protocol's stdout is the artifact. A failure names the program
// and its status.
func run(ctx context.Context, stderr io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		stderr.Write(out.Bytes())
		return fmt.Errorf("%s %s: %w", name, args[0], err)
	}
	return nil
}

// lookPath finds the CLI, saying how to get it when it is missing.
func lookPath(flagValue, name, pkg string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not on PATH: install it (Debian: apt install %s) or pass --%s PATH", name, pkg, name)
	}
	return p, nil
}

// Main runs one plugin: args are what follows `img signer NAME`.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	type plugin func(ctx context.Context, args []string, subject oci.Descriptor, stderr io.Writer) ([]byte, [][]byte, error)
	var signer, attester plugin
	switch name {
	case "cosign":
		signer, attester = cosign, cosignAttest
	case "notation":
		signer = notation
	default:
		return fmt.Errorf("no signer %q: img has cosign and notation", name)
	}
	if len(args) > 0 && args[0] == sign.AttestVerb {
		if attester == nil {
			return fmt.Errorf("img signer %s signs and does not attest: sign attestations with the cosign signer", name)
		}
		signer = attester
	} else if len(args) == 0 || args[0] != sign.Verb {
		return fmt.Errorf("usage: img signer %s %s [FLAGS] < descriptor.json > artifact.tar", name, sign.Verb)
	}
	subject, err := readSubject(stdin)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "img-signer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.WithValue(context.Background(), tmpKey{}, tmp)
	raw, blobs, err := signer(ctx, args[1:], subject, stderr)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := sign.WriteLayout(&buf, raw, blobs); err != nil {
		return err
	}
	_, err = stdout.Write(buf.Bytes())
	return err
}

type tmpKey struct{}

// tempDir is the plugin run's scratch directory, removed when it ends.
func tempDir(ctx context.Context) string { return ctx.Value(tmpKey{}).(string) }

// keyValue parses NAME=VALUE.
func keyValue(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%q: want KEY=VALUE", s)
	}
	return k, v, nil
}
