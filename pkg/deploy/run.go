package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/auth"
	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/daemon"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/push"
	"github.com/rules-img/rules_img/pkg/reference"
	regclient "github.com/rules-img/rules_img/pkg/registry"
	"github.com/rules-img/rules_img/pkg/sign"
	"github.com/rules-img/rules_img/pkg/stamp"
	"github.com/rules-img/rules_img/pkg/tarball"
)

// Overrides are what a user passes after `bazel run ... --`. Tags add to
// the target's; the rest replace what the target says when set.
type Overrides struct {
	Tags       []string
	Registry   string
	Repository string
	Platform   string // platforms of an index to load: os/arch[/variant], a list, or all
	Daemon     string
	Output     string // the tarball of daemon "tar"
	Jobs       int    // concurrent blob uploads per push; 0: the default
	// DeduplicatedPush, DedupBlobRepository and DedupContent replace every
	// push's deduplicated_push settings.
	DeduplicatedPush    string
	DedupBlobRepository string
	DedupContent        string
	// Only names the blobs to push, and nothing else: "config:M" or
	// "layer:M:L" (manifest M's config or its layer L, from 0). A build
	// action of push at build time pushes one blob this way.
	Only []string
}

// Env is what an operation takes from where it runs rather than from its
// spec.
type Env struct {
	Stderr   io.Writer // progress and warnings
	Terminal bool      // Stderr may draw a live status line
	// Getenv reads IMG_REAPI_ENDPOINT, IMG_REAPI_INSTANCE_NAME, the
	// IMG_CREDENTIAL_HELPER variables and BUILD_WORKING_DIRECTORY; nil: os.Getenv.
	Getenv func(string) string
	// Cache, when set, is the remote cache layers open from, instead of the
	// one the spec or the environment names: a long-running caller (the
	// Build Event Service backend) keeps one connection for all pushes.
	Cache cas.Store
	// Signer, when set, signs the pushes of push requests (the bes backend's
	// own plugin): a request names none, as a program a build names never
	// runs on the backend's machine.
	Signer *sign.Plugin
	// Shared, when set, is shared by the pushes of a long-running caller,
	// so a blob many images need is uploaded once and mounted by the rest.
	Shared *push.Shared
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

// Run carries out one push or load and returns its summary.
func Run(ctx context.Context, s *Spec, o Overrides, env Env) (string, error) {
	src, err := s.Sources(env)
	if err != nil {
		return "", err
	}
	img, err := s.BuildImage(src)
	if err != nil {
		return "", err
	}
	repository := s.Repository
	if o.Repository != "" {
		repository = o.Repository
	}
	if stamp.HasTemplate(repository) {
		return "", fmt.Errorf("%s: repository %q needs stamping: build with --stamp (or stamp = \"force\")", s.Label, repository)
	}
	tags := s.tags(o.Tags, env)
	switch s.Operation {
	case "push":
		return s.push(ctx, img, src, repository, tags, o, env)
	case "load":
		return s.load(ctx, img, repository, tags, o, env)
	}
	return "", fmt.Errorf("%s: img deploy cannot run a %q spec", s.Label, s.Operation)
}

// tags are the target's tags and the run's (as in upstream rules_img, a
// run-time tag adds to them), without those that still need stamping.
func (s *Spec) tags(extra []string, env Env) []string {
	all := slices.Clone(s.Tags)
	for _, t := range extra {
		if !slices.Contains(all, t) {
			all = append(all, t)
		}
	}
	return s.filled("tag", all, env)
}

// manifestTags are the spec's per-manifest tags, without those that still
// need stamping.
func (s *Spec) manifestTags(env Env) [][]string {
	if len(s.ManifestTags) == 0 {
		return nil
	}
	out := make([][]string, len(s.ManifestTags))
	for i, tags := range s.ManifestTags {
		out[i] = s.filled("manifest tag", tags, env)
	}
	return out
}

// filled drops the tags that still hold a template, saying so for each.
func (s *Spec) filled(what string, tags []string, env Env) []string {
	var kept []string
	for _, t := range tags {
		if stamp.HasTemplate(t) {
			fmt.Fprintf(env.Stderr, "%s: skipping %s %q: it needs stamping (build with --stamp)\n", s.Label, what, t)
			continue
		}
		kept = append(kept, t)
	}
	return kept
}

func (s *Spec) push(ctx context.Context, img *image.Image, src Sources, repository string, tags []string, o Overrides, env Env) (string, error) {
	registry := s.Registry
	if o.Registry != "" {
		registry = o.Registry
	} else if host, rest, ok := splitHost(o.Repository); ok {
		// rules_oci's `-- --repository ghcr.io/team/app` names both.
		registry, repository = host, rest
	}
	if stamp.HasTemplate(registry) {
		return "", fmt.Errorf("%s: registry %q needs stamping: build with --stamp (or stamp = \"force\")", s.Label, registry)
	}
	if registry == "" {
		return "", fmt.Errorf("%s: no registry to push to: set registry or destination_file on the target, --@rules_img//img/settings:destination_registry, or pass -- --registry HOST", s.Label)
	}
	switch s.Format {
	case "", "oci":
	case "docker":
		var err error
		if img, err = image.AsDocker(img); err != nil {
			return "", fmt.Errorf("%s: format Docker: %w", s.Label, err)
		}
	default:
		return "", fmt.Errorf("%s: format %q: use oci or docker", s.Label, s.Format)
	}
	if s.Strategy.Announces() {
		if err := s.announce(ctx, img, env); err != nil {
			return "", err
		}
	}
	kc, err := auth.New(auth.Options{BazelHelper: s.registryHelper(env)})
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Label, err)
	}
	dd, err := s.dedupOptions(o, registry, repository)
	if err != nil {
		return "", err
	}
	only, err := selectBlobs(img, o.Only)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Label, err)
	}
	var gateway *regclient.Gateway
	if s.PushGateway != "" {
		if gateway, err = regclient.ParseGateway(s.PushGateway); err != nil {
			return "", fmt.Errorf("%s: %w", s.Label, err)
		}
	}
	var att *attachments
	if only == nil {
		if att, err = s.attachments(img, src, env); err != nil {
			return "", err
		}
	}
	rep := push.NewTextReporter(env.Stderr, env.Terminal, s.Label)
	opts := push.Options{
		Registry: registry, Repository: repository, Tags: tags, ManifestTags: s.manifestTags(env),
		Keychain: kc, Insecure: src.Insecure, Jobs: o.Jobs, Progress: rep, Label: s.Label,
		Shared: env.Shared, Dedup: dd.Dedup, HomeRepository: dd.HomeRepository,
		ArtificialManifests: dd.ArtificialManifests, MountFrom: dd.MountFrom, NoBaseMounts: dd.NoBaseMounts,
		Warnings: env.Stderr, BlobsOnly: only, ForbidLayerUpload: s.ForbidLayerPush, Gateway: gateway,
	}
	if att != nil {
		opts.BeforeTags = func(ctx context.Context) error {
			rep.Finish()
			return att.run(ctx, img, opts)
		}
	}
	res, err := push.Push(ctx, img, opts)
	rep.Finish()
	if err != nil {
		return "", err
	}
	if only != nil {
		return fmt.Sprintf("%d blob(s) in %s/%s (%d uploaded, %.1f MiB; %d mounted; %d already there)", len(only), registry, repository, res.Uploaded, float64(res.BytesUploaded)/(1<<20), res.Mounted, res.Existing), nil
	}
	msg := fmt.Sprintf("%s (%d uploaded, %.1f MiB; %d mounted; %d already there)", res.Reference, res.Uploaded, float64(res.BytesUploaded)/(1<<20), res.Mounted, res.Existing)
	if att != nil {
		for _, d := range att.done {
			msg += "\n       " + d
		}
	}
	for _, t := range res.Tags {
		msg += "\n       tagged " + t
	}
	return msg, nil
}

func (s *Spec) load(ctx context.Context, img *image.Image, repository string, tags []string, o Overrides, env Env) (string, error) {
	to := s.Daemon
	if o.Daemon != "" {
		to = o.Daemon
	}
	refs := loadRefs(repository, tags)
	if to == "tar" {
		return s.writeTarball(ctx, img, refs, o, env)
	}
	res, err := daemon.Load(ctx, img, daemon.Options{
		Daemon: to, Tags: refs, Platform: o.Platform,
		Progress: env.Stderr, IsTerminal: env.Terminal, Label: s.Label,
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s into %s (%d blobs written, %.1f MiB; %d already there)",
		strings.Join(res.Names, ", "), res.Digest, res.Daemon, res.BlobsWritten, float64(res.BytesWritten)/(1<<20), res.BlobsSkipped), nil
}

// loadRefs turns load tags into references: a bare tag joins the
// repository, a tag with ':' or '/' is a whole reference already.
func loadRefs(repository string, tags []string) []string {
	var refs []string
	for _, t := range tags {
		if strings.ContainsAny(t, ":/") {
			refs = append(refs, t)
		} else {
			refs = append(refs, repository+":"+t)
		}
	}
	return refs
}

func (s *Spec) writeTarball(ctx context.Context, img *image.Image, refs []string, o Overrides, env Env) (string, error) {
	if o.Output == "" {
		return "", fmt.Errorf("%s: daemon tar writes a docker-save tarball: pass --output FILE", s.Label)
	}
	ms, err := image.SelectManifests(img, o.Platform)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Label, err)
	}
	if len(ms) > 1 {
		return "", fmt.Errorf("%s: a docker-save tarball holds one platform, and %d were asked for: pass --platform os/arch", s.Label, len(ms))
	}
	m := ms[0]
	out := o.Output
	// bazel run starts us in the runfiles; a relative path means the
	// directory the user ran bazel from.
	if wd := env.getenv("BUILD_WORKING_DIRECTORY"); wd != "" && !filepath.IsAbs(out) {
		out = filepath.Join(wd, out)
	}
	if err := atomicfile.Write(out, func(w io.Writer) error {
		return tarball.Write(ctx, w, m, refs)
	}); err != nil {
		return "", fmt.Errorf("%s: %w", s.Label, err)
	}
	return fmt.Sprintf("wrote %s (%s, %s)", out, strings.Join(refs, ", "), m.Digest), nil
}

// WriteTarball writes the docker-save tarball of "tarball" specs (image_load's
// tarball output group, container_bundle's tar: a build action) to out; a
// blob the images share is stored once.
func WriteTarball(ctx context.Context, specs []*Spec, out, platform string, env Env) error {
	var images []tarball.Image
	for _, s := range specs {
		src, err := s.Sources(env)
		if err != nil {
			return err
		}
		img, err := s.BuildImage(src)
		if err != nil {
			return err
		}
		m, err := image.SelectManifest(img, platform)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Label, err)
		}
		images = append(images, tarball.Image{Manifest: m, Tags: loadRefs(s.Repository, s.Tags)})
	}
	return atomicfile.Write(out, func(w io.Writer) error {
		return tarball.WriteImages(ctx, w, images)
	})
}

// Sources says where this spec's layer bytes may come from besides the
// runfiles: the Bazel remote cache, and the base image's registry.
func (s *Spec) Sources(env Env) (Sources, error) {
	var src Sources
	var access Access
	if s.SourceAccess != nil {
		access = *s.SourceAccess
	}
	kc, err := auth.New(auth.Options{DockerConfig: access.DockerConfig, CredentialHelper: access.CredentialHelper, BazelHelper: s.registryHelper(env)})
	if err != nil {
		return src, fmt.Errorf("%s: %w", s.Label, err)
	}
	src.Keychain, src.Insecure, src.Progress = kc, access.Insecure, env.Stderr
	if s.PullGateway != "" {
		if src.Gateway, err = regclient.ParseGateway(s.PullGateway); err != nil {
			return src, fmt.Errorf("%s: %w", s.Label, err)
		}
	}
	endpoint := s.RemoteCache
	if endpoint == "" {
		endpoint = env.getenv("IMG_REAPI_ENDPOINT")
	}
	instance := s.RemoteInstance
	if instance == "" {
		instance = env.getenv("IMG_REAPI_INSTANCE_NAME")
	}
	// A helper scoped to the cache wins over the one for everything, as in
	// upstream rules_img; the spec's (from the settings) over the environment.
	helper := firstSet(s.CredentialHelper, env.getenv("IMG_CREDENTIAL_HELPER_REMOTE_CACHE"), env.getenv("IMG_CREDENTIAL_HELPER"))
	if env.Cache != nil {
		src.Cache = env.Cache
	} else if endpoint != "" {
		if src.Cache, err = cas.Open(endpoint, cas.Options{CredentialHelper: helper, InstanceName: instance}); err != nil {
			return src, fmt.Errorf("%s: remote cache: %w", s.Label, err)
		}
	} else if s.Strategy.Streams() {
		fmt.Fprintf(env.Stderr, "%s: strategy %s without a remote cache (set --@rules_img//img/settings:remote_cache or IMG_REAPI_ENDPOINT): blobs must come from local files or base registries\n", s.Label, s.Strategy)
	}
	return src, nil
}

// Outcome is how one operation of RunAll ended.
type Outcome struct {
	Spec    *Spec
	Summary string        // on success
	Err     error         // on failure: one message that starts with the label
	Took    time.Duration // wall time
}

// RunAll runs the operations side by side; one failing does not stop the
// others. Its pushes share blobs (see push.Shared). A failure after ctx was cancelled (Ctrl-C) is reported as the
// interruption it is, whatever broke first in its wake.
func RunAll(ctx context.Context, specs []*Spec, o Overrides, env Env) []Outcome {
	if env.Shared == nil {
		// Pushes of a fleet into one registry send a layer they share once.
		env.Shared = &push.Shared{}
	}
	out := make([]Outcome, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			sum, err := Run(ctx, s, o, env)
			out[i] = Outcome{Spec: s, Summary: sum, Took: time.Since(start)}
			if err == nil {
				return
			}
			msg := err.Error()
			if ctx.Err() != nil {
				msg = fmt.Sprintf("interrupted before the %s finished: run it again to finish (tags are written last, so none points at an incomplete image)", s.Operation)
			}
			if !strings.HasPrefix(msg, s.Label+": ") {
				msg = s.Label + ": " + msg
			}
			out[i].Err = errors.New(msg)
		}()
	}
	wg.Wait()
	return out
}

// splitHost splits a registry host off a repository, by Docker's rule: the
// first component is a host when it has a dot or a port, or is localhost.
func splitHost(repository string) (host, rest string, ok bool) {
	first, rest, found := strings.Cut(repository, "/")
	if !found || rest == "" || !(strings.ContainsAny(first, ".:") || first == "localhost") {
		return "", "", false
	}
	return first, rest, true
}

// registryHelper is the Bazel credential helper for registries: the spec's
// (credential_helper_oci_registry), else $IMG_CREDENTIAL_HELPER_OCI_REGISTRY.
// The unscoped credential_helper is the cache's alone here, so it never
// shadows the docker config's registry credentials.
func (s *Spec) registryHelper(env Env) string {
	return firstSet(s.RegistryCredentialHelper, env.getenv("IMG_CREDENTIAL_HELPER_OCI_REGISTRY"))
}

func firstSet(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// dedupOptions are the push options the spec's deduplicated_push and
// cross-mount settings make, with the run's overrides applied.
func (s *Spec) dedupOptions(o Overrides, registry, repository string) (push.Options, error) {
	var opts push.Options
	var err error
	if opts.Dedup, err = push.ParseDedup(firstSet(o.DeduplicatedPush, s.DeduplicatedPush)); err != nil {
		return opts, fmt.Errorf("%s: %w", s.Label, err)
	}
	for _, repo := range s.MountFrom {
		if err := reference.CheckRepository(repo); err != nil {
			return opts, fmt.Errorf("%s: mount_from: %w", s.Label, err)
		}
		if repo != repository {
			opts.MountFrom = append(opts.MountFrom, repo)
		}
	}
	opts.HomeRepository = firstSet(o.DedupBlobRepository, s.DedupBlobRepository)
	if opts.HomeRepository != "" {
		if err := reference.CheckRepository(opts.HomeRepository); err != nil {
			return opts, fmt.Errorf("%s: deduplicated_push_blob_repository: %w", s.Label, err)
		}
	}
	switch content := firstSet(o.DedupContent, s.DedupContent); content {
	case "", "blobs":
	case "blobs_and_artificial_manifests":
		if opts.HomeRepository == "" {
			return opts, fmt.Errorf("%s: deduplicated_push_content = blobs_and_artificial_manifests writes its manifests into deduplicated_push_blob_repository: set that too", s.Label)
		}
		opts.ArtificialManifests = true
	default:
		return opts, fmt.Errorf("%s: deduplicated_push_content %q: use blobs or blobs_and_artificial_manifests", s.Label, content)
	}
	switch s.CrossMount {
	case "", "same_registry":
	case "disabled":
		opts.NoBaseMounts = true
	default:
		return opts, fmt.Errorf("%s: cross_mount %q: use same_registry or disabled (a registry mounts only from its own repositories)", s.Label, s.CrossMount)
	}
	if s.CrossMountFrom != "" {
		other, err := ReadSpec(s.path(s.CrossMountFrom), s.root)
		if err != nil {
			return opts, fmt.Errorf("%s: cross_mount_from: %w", s.Label, err)
		}
		// Only a repository of the same registry can be mounted from; a
		// run's --registry moves both pushes.
		if o.Registry != "" {
			other.Registry = o.Registry
		}
		if other.Registry == registry && other.Repository != repository && !stamp.HasTemplate(other.Repository) {
			opts.MountFrom = append(opts.MountFrom, other.Repository)
		}
	}
	return opts, nil
}

// selectBlobs turns "config:M" and "layer:M:L" selectors into the digests
// they name; none gives nil (the whole push).
func selectBlobs(img *image.Image, selectors []string) (map[string]image.Opener, error) {
	if len(selectors) == 0 {
		return nil, nil
	}
	out := map[string]image.Opener{}
	for _, sel := range selectors {
		var m, l int
		switch {
		case strings.HasPrefix(sel, "config:"):
			if _, err := fmt.Sscanf(sel, "config:%d", &m); err != nil || m < 0 || m >= len(img.Manifests) {
				return nil, fmt.Errorf("--only %q: no such config (the image has %d manifests)", sel, len(img.Manifests))
			}
			out[img.Manifests[m].ConfigDigest] = nil
		case strings.HasPrefix(sel, "layer:"):
			if _, err := fmt.Sscanf(sel, "layer:%d:%d", &m, &l); err != nil || m < 0 || m >= len(img.Manifests) || l < 0 || l >= len(img.Manifests[m].Layers) {
				return nil, fmt.Errorf("--only %q: no such layer", sel)
			}
			if layer := img.Manifests[m].Layers[l]; !layer.MediaType.IsNonDistributable() {
				// This layer's opener: its blob is the action's input.
				out[layer.Digest] = layer.Open
			}
		default:
			return nil, fmt.Errorf("--only %q: use config:M or layer:M:L", sel)
		}
	}
	return out, nil
}
