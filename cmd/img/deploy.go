package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/rules-img/rules_img/pkg/auth"
	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/deploy"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/load"
	"github.com/rules-img/rules_img/pkg/push"
	"github.com/rules-img/rules_img/pkg/stamp"
)

func init() {
	subcommands["deploy"] = subcommand{"run the push and load operations of image_push, image_load and multi_deploy", deployMain}
}

// deployOverrides are the flags a user passes after `bazel run ... --`.
type deployOverrides struct {
	tags       repeatedFlag
	registry   string
	repository string
	platform   string
	daemon     string
	output     string
	jobs       int
}

func deployMain(args []string) error {
	fs := newSubcommandFlags("deploy")
	var specs repeatedFlag
	var root string
	var o deployOverrides
	fs.Var(&specs, "spec", "deploy spec JSON written by the rule; repeat")
	fs.StringVar(&root, "root", "", "directory the specs' paths are relative to (the main repository's runfiles)")
	fs.Var(&o.tags, "tag", "push or load with this tag too, besides the target's (repeat for several)")
	fs.StringVar(&o.registry, "registry", "", "push to this registry instead")
	fs.StringVar(&o.repository, "repository", "", "push to (or load as) this repository instead")
	fs.StringVar(&o.platform, "platform", "", "load these platforms of an index: os/arch[/variant], a comma-separated list, or all (default: this machine's); several only into containerd")
	fs.StringVar(&o.daemon, "daemon", "", "load into this daemon instead: auto, containerd, docker, podman or tar")
	fs.StringVar(&o.output, "output", "", "with daemon tar: the docker-save tarball to write")
	fs.IntVar(&o.jobs, "jobs", 0, "concurrent blob uploads per push (default 4)")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return fmt.Errorf("%w (flags: --tag, --registry, --repository, --platform, --daemon, --output, --jobs)", err)
	}
	if len(specs) == 0 {
		return fmt.Errorf("--spec is required")
	}
	var ops []*deploy.Spec
	for _, p := range specs {
		s, err := deploy.ReadSpec(p, root)
		if err != nil {
			return err
		}
		ops = append(ops, s)
	}
	ctx, stop := signalContext()
	defer stop()

	// One operation may draw a live status line; several print plain lines
	// so their output does not fight over the terminal.
	tty := len(ops) == 1 && term.IsTerminal(int(os.Stderr.Fd()))
	results := make([]string, len(ops))
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, s := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			results[i], errs[i] = runOperation(ctx, s, o, tty)
			results[i] += fmt.Sprintf(" (%.1fs)", time.Since(start).Seconds())
		}()
	}
	wg.Wait()
	failed := 0
	for i, s := range ops {
		if errs[i] == nil {
			continue
		}
		failed++
		msg := errs[i].Error()
		if ctx.Err() != nil {
			// The cause is Ctrl-C, whatever broke first in its wake.
			msg = fmt.Sprintf("interrupted before the %s finished: run it again to finish (tags are written last, so none points at an incomplete image)", s.Operation)
		}
		if !strings.HasPrefix(msg, s.Label+": ") {
			msg = s.Label + ": " + msg
		}
		fmt.Fprintf(os.Stderr, "FAILED  %s\n", msg)
	}
	if len(ops) > 1 {
		fmt.Printf("%d operations, %d succeeded, %d failed\n", len(ops), len(ops)-failed, failed)
	}
	for i, s := range ops {
		if errs[i] == nil {
			fmt.Printf("%-6s %s: %s\n", s.Operation, s.Label, results[i])
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d operations failed", failed, len(ops))
	}
	return nil
}

func runOperation(ctx context.Context, s *deploy.Spec, o deployOverrides, tty bool) (string, error) {
	src, err := sources(s)
	if err != nil {
		return "", err
	}
	img, err := s.BuildImage(src)
	if err != nil {
		return "", err
	}
	// A run-time --tag adds to the target's tags, as in upstream rules_img.
	tags := slices.Clone(s.Tags)
	for _, t := range o.tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	repository := s.Repository
	if o.repository != "" {
		repository = o.repository
	}
	if stamp.HasTemplate(repository) {
		return "", fmt.Errorf("%s: repository %q needs stamping: build with --stamp (or stamp = \"force\")", s.Label, repository)
	}
	var kept []string
	for _, t := range tags {
		if stamp.HasTemplate(t) {
			fmt.Fprintf(os.Stderr, "%s: skipping tag %q: it needs stamping (build with --stamp)\n", s.Label, t)
			continue
		}
		kept = append(kept, t)
	}

	switch s.Operation {
	case "push":
		registry := s.Registry
		if o.registry != "" {
			registry = o.registry
		}
		if stamp.HasTemplate(registry) {
			return "", fmt.Errorf("%s: registry %q needs stamping: build with --stamp (or stamp = \"force\")", s.Label, registry)
		}
		if registry == "" {
			return "", fmt.Errorf("%s: no registry to push to: set registry or destination_file on the target, --@rules_img//img/settings:destination_registry, or pass -- --registry HOST", s.Label)
		}
		kc, err := auth.New(auth.Options{})
		if err != nil {
			return "", err
		}
		rep := push.NewTextReporter(os.Stderr, tty, s.Label)
		res, err := push.Push(ctx, img, push.Options{
			Registry: registry, Repository: repository, Tags: kept,
			Keychain: kc, Insecure: src.Insecure, Jobs: o.jobs, Progress: rep, Label: s.Label,
		})
		rep.Finish()
		if err != nil {
			return "", err
		}
		msg := fmt.Sprintf("%s (%d uploaded, %.1f MiB; %d mounted; %d already there)", res.Reference, res.Uploaded, float64(res.BytesUploaded)/(1<<20), res.Mounted, res.Existing)
		for _, t := range res.Tags {
			msg += "\n       tagged " + t
		}
		return msg, nil
	case "load":
		daemon := s.Daemon
		if o.daemon != "" {
			daemon = o.daemon
		}
		refs := loadRefs(repository, kept)
		if daemon == "tar" {
			return writeTarball(ctx, s, img, refs, o)
		}
		res, err := load.Load(ctx, img, load.Options{
			Daemon: daemon, Tags: refs, Platform: o.platform,
			Progress: os.Stderr, IsTerminal: tty, Label: s.Label,
		})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s %s into %s (%d blobs written, %.1f MiB; %d already there)",
			strings.Join(res.Names, ", "), res.Digest, res.Daemon, res.BlobsWritten, float64(res.BytesWritten)/(1<<20), res.BlobsSkipped), nil
	}
	return "", fmt.Errorf("%s: img deploy cannot run a %q spec", s.Label, s.Operation)
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

func writeTarball(ctx context.Context, s *deploy.Spec, img *image.Image, refs []string, o deployOverrides) (string, error) {
	if o.output == "" {
		return "", fmt.Errorf("%s: daemon tar writes a docker-save tarball: pass --output FILE", s.Label)
	}
	ms, err := load.SelectManifests(img, o.platform)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Label, err)
	}
	if len(ms) > 1 {
		return "", fmt.Errorf("%s: a docker-save tarball holds one platform, and %d were asked for: pass --platform os/arch", s.Label, len(ms))
	}
	m := ms[0]
	// bazel run starts us in the runfiles; a relative path means the
	// directory the user ran bazel from.
	if wd := os.Getenv("BUILD_WORKING_DIRECTORY"); wd != "" && !filepath.IsAbs(o.output) {
		o.output = filepath.Join(wd, o.output)
	}
	if err := writeFileStreaming(o.output, func(w io.Writer) error {
		return load.WriteDockerArchive(ctx, w, m, refs)
	}); err != nil {
		return "", fmt.Errorf("%s: %w", s.Label, err)
	}
	return fmt.Sprintf("wrote %s (%s, %s)", o.output, strings.Join(refs, ", "), m.Digest), nil
}

// sources says where this spec's layer bytes may come from besides the
// runfiles: the Bazel remote cache, and the base image's registry.
func sources(s *deploy.Spec) (deploy.Sources, error) {
	var src deploy.Sources
	var rf registryFlags
	fs := newSubcommandFlags("deploy source")
	rf.register(fs)
	if err := parseSubcommandFlags(fs, s.SourceFlags); err != nil {
		return src, fmt.Errorf("%s: base image flags: %w", s.Label, err)
	}
	kc, err := rf.keychain()
	if err != nil {
		return src, err
	}
	src.Keychain, src.Insecure, src.Progress = kc, rf.insecure, os.Stderr
	endpoint := s.RemoteCache
	if endpoint == "" {
		endpoint = os.Getenv("IMG_REAPI_ENDPOINT")
	}
	instance := s.RemoteInstance
	if instance == "" {
		instance = os.Getenv("IMG_REAPI_INSTANCE_NAME")
	}
	helper := s.CredentialHelper
	if helper == "" {
		helper = os.Getenv("IMG_CREDENTIAL_HELPER")
	}
	if endpoint != "" {
		if src.Cache, err = cas.Open(endpoint, cas.Options{CredentialHelper: helper, InstanceName: instance}); err != nil {
			return src, fmt.Errorf("%s: remote cache: %w", s.Label, err)
		}
	} else if s.Strategy == "lazy" {
		fmt.Fprintf(os.Stderr, "%s: strategy lazy without a remote cache (set --@rules_img//img/settings:remote_cache or IMG_REAPI_ENDPOINT): blobs must come from local files or base registries\n", s.Label)
	}
	return src, nil
}
