package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/push"
	"github.com/rules-img/rules_img/pkg/sign"
)

// attachments are what a push puts beside its image once the image is
// complete and before its tags: the referrers the build made (SBOMs), and
// signatures from the signing_config's plugin.
type attachments struct {
	label      string
	referrers  []*image.Image
	signer     *sign.Plugin
	targets    []string
	bestEffort bool
	env        Env
	done       []string // summary lines
}

var signTargets = []string{"roots", "child_manifests", "referrers", "attestations"}

// predicateTypes are the in-toto predicate types of the referrers a plugin
// attests (signing target "attestations"), by artifact type; an in-toto
// statement names its own.
var predicateTypes = map[string]string{
	"application/spdx+json":          "https://spdx.dev/Document",
	"application/vnd.cyclonedx+json": "https://cyclonedx.org/bom",
	inTotoType:                       "",
}

const inTotoType = "application/vnd.in-toto+json"

// attachments reads the referrers and resolves the signer, so that a
// missing file or plugin fails before anything is pushed. img is the image
// as it will be pushed (after a format change): a referrer must name one of
// its manifests.
func (s *Spec) attachments(img *image.Image, src Sources, env Env) (*attachments, error) {
	if len(s.Referrers) == 0 && s.Sign == nil {
		return nil, nil
	}
	a := &attachments{label: s.Label, env: env}
	pushed := map[string]bool{img.RootDigest(): true}
	for _, m := range img.Manifests {
		pushed[m.Digest] = true
	}
	for i, is := range s.Referrers {
		r, err := s.buildImage(is, src)
		if err != nil {
			return nil, fmt.Errorf("referrer %d: %w", i+1, err)
		}
		subject := rootSubject(r)
		if !pushed[subject] {
			why := "give it subject = the pushed image"
			if s.Format == "docker" {
				why = "format docker gives the image new digests, so a referrer built for it names none of them; push with format oci"
			}
			if subject == "" {
				return nil, fmt.Errorf("%s: referrer %s has no subject: %s", s.Label, r.RootDigest(), why)
			}
			return nil, fmt.Errorf("%s: referrer %s names %s as its subject, which this push does not write: %s", s.Label, r.RootDigest(), subject, why)
		}
		a.referrers = append(a.referrers, r)
	}
	if s.Sign != nil {
		if err := a.resolveSigner(s, env); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *attachments) resolveSigner(s *Spec, env Env) error {
	sp := s.Sign
	switch sp.Mode {
	case "enabled", "best_effort":
	default:
		return fmt.Errorf("%s: sign mode %q: use enabled or best_effort", s.Label, sp.Mode)
	}
	a.bestEffort = sp.Mode == "best_effort"
	a.targets = sp.Targets
	if len(a.targets) == 0 {
		a.targets = []string{"roots"}
	}
	for _, t := range a.targets {
		if !slices.Contains(signTargets, t) {
			return fmt.Errorf("%s: %s: sign target %q: use %s", s.Label, sp.Config, t, strings.Join(signTargets, ", "))
		}
	}
	if s.Inline != nil {
		// A push request: the backend signs with its own plugin.
		if env.Signer == nil {
			err := fmt.Errorf("%s: %s asks for a signature, and this backend has no signer: start img bes with --signer", s.Label, sp.Config)
			if a.bestEffort {
				fmt.Fprintf(env.Stderr, "%s: warning: not signing: %v\n", s.Label, err)
				return nil
			}
			return err
		}
		p := *env.Signer
		p.Config, p.Stderr = sp.Config+" (the backend's signer)", env.Stderr
		a.signer = &p
		return nil
	}
	p := sign.Plugin{Config: sp.Config, Args: sp.Args, Env: map[string]string{}, Stderr: env.Stderr}
	for k, v := range sp.Env {
		p.Env[k] = v
	}
	switch {
	case sp.Tool != "":
		p.Path = s.path(sp.Tool)
		if s.root != "" && env.getenv("RUNFILES_DIR") == "" {
			// A Bazel-built plugin finds its own runfiles in the push's.
			p.Env["RUNFILES_DIR"] = filepath.Dir(s.root)
		}
	case sp.Command != "":
		path, err := exec.LookPath(sp.Command)
		if err != nil {
			err = fmt.Errorf("%s: %s: tool_command %q is not on PATH: install it, or set tool to a Bazel-built plugin", s.Label, sp.Config, sp.Command)
			if a.bestEffort {
				fmt.Fprintf(env.Stderr, "%s: warning: not signing: %v\n", s.Label, err)
				return nil
			}
			return err
		}
		p.Path = path
	default:
		return fmt.Errorf("%s: %s names no plugin: set tool or tool_command", s.Label, sp.Config)
	}
	a.signer = &p
	return nil
}

// rootSubject is the subject digest of an image's root manifest or index.
func rootSubject(img *image.Image) string {
	raw := img.Manifests[0].Raw
	if img.IsIndex() {
		raw = img.Index
	}
	return oci.SubjectOf(raw)
}

// rootDescriptor describes an image's root with its bytes as data: a
// plugin may sign the bytes themselves (notation does).
func rootDescriptor(img *image.Image) oci.Descriptor {
	if img.IsIndex() {
		return withData(img.Index, oci.MediaTypeOf("", img.Index, oci.MediaTypeIndex))
	}
	m := img.Manifests[0]
	return withData(m.Raw, oci.MediaTypeOf(m.MediaType, m.Raw, oci.MediaTypeManifest))
}

func withData(raw []byte, mt oci.MediaType) oci.Descriptor {
	d := oci.DescriptorFor(mt, raw)
	d.Data = raw
	return d
}

// run pushes the referrers, then signs what the targets say and pushes
// the signatures, all by digest into the push's repository.
func (a *attachments) run(ctx context.Context, img *image.Image, opts push.Options) error {
	// Small artifacts of this push alone: no tags, no sharing, and their
	// one layer is uploaded even where forbid_layer_push guards the image's.
	opts.Tags, opts.ManifestTags, opts.Progress, opts.Shared, opts.BeforeTags = nil, nil, nil, nil, nil
	opts.Dedup, opts.HomeRepository, opts.ArtificialManifests, opts.ForbidLayerUpload = push.DedupDisabled, "", false, false
	var referrerRoots []oci.Descriptor
	for _, r := range a.referrers {
		res, err := push.Push(ctx, r, opts)
		if err != nil {
			return err
		}
		d := rootDescriptor(r)
		referrerRoots = append(referrerRoots, d)
		a.done = append(a.done, fmt.Sprintf("referrer %s of %s", res.Digest, rootSubject(r)))
	}
	if a.signer == nil {
		return nil
	}
	var subjects []oci.Descriptor
	for _, t := range a.targets {
		switch t {
		case "roots":
			subjects = append(subjects, rootDescriptor(img))
		case "child_manifests":
			subjects = append(subjects, childDescriptors(img)...)
		case "referrers":
			subjects = append(subjects, referrerRoots...)
		}
	}
	jobs := make([]func() error, 0, len(subjects))
	for _, d := range subjects {
		jobs = append(jobs, func() error { return a.sign(ctx, d, opts) })
	}
	if slices.Contains(a.targets, "attestations") {
		for _, r := range a.referrers {
			if _, ok := predicateTypes[artifactType(r)]; ok {
				jobs = append(jobs, func() error { return a.attest(ctx, img, r, opts) })
			}
		}
	}
	for _, job := range jobs {
		err := job()
		if err != nil && a.bestEffort {
			fmt.Fprintf(a.env.Stderr, "%s: warning: %v; tagging it unsigned (sign = best_effort)\n", a.label, err)
			continue
		}
		if err != nil {
			return fmt.Errorf("%v; nothing was tagged (sign = enabled)", err)
		}
	}
	return nil
}

func (a *attachments) sign(ctx context.Context, subject oci.Descriptor, opts push.Options) error {
	sig, err := a.signer.Sign(ctx, subject)
	if err != nil {
		return err
	}
	res, err := push.Push(ctx, sig, opts)
	if err != nil {
		return fmt.Errorf("pushing the signature of %s: %w", subject.Digest, err)
	}
	a.done = append(a.done, fmt.Sprintf("signed %s by %s: %s", subject.Digest, a.signer.Config, res.Digest))
	return nil
}

// artifactType is what a single-manifest referrer holds.
func artifactType(img *image.Image) string {
	if img.IsIndex() {
		return ""
	}
	var doc oci.Document
	if json.Unmarshal(img.Manifests[0].Raw, &doc) != nil {
		return ""
	}
	return doc.ArtifactType
}

// maxPredicate bounds the document read back from a referrer's layer.
const maxPredicate = 256 << 20

// attest has the plugin sign the referrer's document as an in-toto
// attestation about the referrer's subject, and pushes that.
func (a *attachments) attest(ctx context.Context, img, r *image.Image, opts push.Options) error {
	m := r.Manifests[0]
	if len(m.Layers) != 1 {
		return fmt.Errorf("referrer %s: an attested document is one layer, and it has %d", m.Digest, len(m.Layers))
	}
	rc, err := m.Layers[0].Open(ctx)
	if err != nil {
		return fmt.Errorf("referrer %s: %w", m.Digest, err)
	}
	doc, err := io.ReadAll(io.LimitReader(rc, maxPredicate))
	rc.Close()
	if err != nil {
		return fmt.Errorf("referrer %s: %w", m.Digest, err)
	}
	kind := artifactType(r)
	predType, predicate := predicateTypes[kind], doc
	if kind == inTotoType {
		var st struct {
			PredicateType string          `json:"predicateType"`
			Predicate     json.RawMessage `json:"predicate"`
		}
		if err := json.Unmarshal(doc, &st); err != nil || st.PredicateType == "" {
			return fmt.Errorf("referrer %s is not an in-toto statement", m.Digest)
		}
		predType, predicate = st.PredicateType, st.Predicate
	}
	var subject oci.Descriptor
	want := rootSubject(r)
	for _, d := range append([]oci.Descriptor{rootDescriptor(img)}, childDescriptors(img)...) {
		if d.Digest == want {
			subject = d
		}
	}
	f, err := os.CreateTemp("", "img-predicate-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(predicate); err != nil {
		f.Close()
		return err
	}
	f.Close()
	att, err := a.signer.Attest(ctx, subject, predType, f.Name())
	if err != nil {
		return err
	}
	res, err := push.Push(ctx, att, opts)
	if err != nil {
		return fmt.Errorf("pushing the attestation of %s: %w", subject.Digest, err)
	}
	a.done = append(a.done, fmt.Sprintf("attested %s (%s) by %s: %s", subject.Digest, predType, a.signer.Config, res.Digest))
	return nil
}

func childDescriptors(img *image.Image) []oci.Descriptor {
	if !img.IsIndex() {
		return nil
	}
	var out []oci.Descriptor
	for _, m := range img.Manifests {
		out = append(out, withData(m.Raw, oci.MediaTypeOf(m.MediaType, m.Raw, oci.MediaTypeManifest)))
	}
	return out
}
