// Package sign runs signer plugins, and is the library plugins are made of.
//
// A plugin signs one OCI descriptor: img runs `TOOL sign-oci-artifact
// ARGS...`, writes the descriptor as JSON on its stdin, and reads the
// signature artifact back from its stdout as an OCI image layout tar whose
// one manifest has that descriptor as its subject (upstream rules_img's
// protocol). img then pushes the artifact as a referrer. Keys and
// cryptography stay in the plugin's process: nothing of them reaches a
// build action, a cache or img.
package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Verb is the plugin's first argument.
const Verb = "sign-oci-artifact"

// AttestVerb asks for a signed in-toto attestation instead (rules_img's
// extension of the protocol): `TOOL attest-oci-artifact ARGS...
// --predicate-type TYPE --predicate FILE`, the subject on stdin, the
// attestation artifact on stdout.
const AttestVerb = "attest-oci-artifact"

// maxArtifact bounds what a plugin may answer: a signature is kilobytes.
const maxArtifact = 64 << 20

// Plugin is one signer as a signing_config describes it.
type Plugin struct {
	Config string            // the signing_config's label, for messages
	Path   string            // the executable
	Prefix []string          // before the verb: ["signer", "cosign"] when the plugin is img itself
	Args   []string          // after the verb
	Env    map[string]string // added to img's environment
	Stderr io.Writer         // the plugin's diagnostics go here; nil: discarded
}

// Sign asks the plugin for a signature of subject and returns it as an
// image to push: one manifest whose subject is subject.
func (p Plugin) Sign(ctx context.Context, subject oci.Descriptor) (*image.Image, error) {
	return p.run(ctx, subject, append([]string{Verb}, p.Args...), "signing")
}

// Attest asks the plugin for a signed attestation that subject has the
// predicate (of predicateType) in file, and returns it as an image to push.
func (p Plugin) Attest(ctx context.Context, subject oci.Descriptor, predicateType, file string) (*image.Image, error) {
	args := append(append([]string{AttestVerb}, p.Args...), "--predicate-type", predicateType, "--predicate", file)
	return p.run(ctx, subject, args, "attesting "+predicateType+" of")
}

func (p Plugin) run(ctx context.Context, subject oci.Descriptor, args []string, doing string) (*image.Image, error) {
	in, err := json.Marshal(subject)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, p.Path, append(append([]string{}, p.Prefix...), args...)...)
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+p.Env[k])
	}
	cmd.Stdin = bytes.NewReader(in)
	out := &limited{max: maxArtifact}
	cmd.Stdout = out
	cmd.Stderr = p.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("signer %s (%s) exited with status %d %s %s; its messages are above", p.Config, p.Path, exit.ExitCode(), doing, subject.Digest)
		}
		if out.over {
			return nil, fmt.Errorf("signer %s (%s) wrote more than %d MiB: not a signature", p.Config, p.Path, maxArtifact>>20)
		}
		return nil, fmt.Errorf("signer %s (%s): %w", p.Config, p.Path, err)
	}
	art, err := ReadArtifact(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("signer %s (%s) answered no signature artifact: %w", p.Config, p.Path, err)
	}
	var doc oci.Document
	if err := json.Unmarshal(art.Manifests[0].Raw, &doc); err != nil {
		return nil, err
	}
	if doc.Subject == nil || doc.Subject.Digest != subject.Digest {
		got := "none"
		if doc.Subject != nil {
			got = doc.Subject.Digest
		}
		return nil, fmt.Errorf("signer %s (%s) signed the wrong thing: its artifact's subject is %s, not %s", p.Config, p.Path, got, subject.Digest)
	}
	return art, nil
}

// limited is a buffer that refuses to grow past max.
type limited struct {
	bytes.Buffer
	max  int
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	if l.Len()+len(p) > l.max {
		l.over = true
		return 0, errors.New("too much output")
	}
	return l.Buffer.Write(p)
}
