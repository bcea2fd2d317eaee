package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"

	"github.com/rules-img/rules_img/pkg/deploy"
	"golang.org/x/term"
)

func init() {
	subcommands["deploy"] = subcommand{"run the push and load operations of image_push, image_load and multi_deploy", deployMain}
}

func deployMain(args []string) error {
	fs := newSubcommandFlags("deploy")
	var specs repeatedFlag
	var root string
	var o deploy.Overrides
	var tags, only repeatedFlag
	var marker string
	var bestEffort bool
	fs.Var(&only, "only", "push just this blob and write no manifest: config:M or layer:M:L (repeat); for push at build time")
	fs.StringVar(&marker, "marker", "", "file to write the summary to when done: the output of a push at build time")
	fs.BoolVar(&bestEffort, "best-effort", false, "with --marker: a failure is a warning, and the marker says it")
	fs.Var(&specs, "spec", "deploy spec JSON written by the rule; repeat")
	fs.StringVar(&root, "root", "", "directory the specs' paths are relative to (the main repository's runfiles)")
	fs.Var(&tags, "tag", "push or load with this tag too, besides the target's (repeat for several)")
	fs.StringVar(&o.Registry, "registry", "", "push to this registry instead")
	fs.StringVar(&o.Repository, "repository", "", "push to (or load as) this repository instead; for a push, HOST/REPO also names the registry")
	// rules_oci's short forms, so its users' scripts keep working.
	fs.Var(&tags, "t", "same as --tag")
	fs.StringVar(&o.Repository, "r", "", "same as --repository")
	fs.StringVar(&o.Platform, "platform", "", "load these platforms of an index: os/arch[/variant], a comma-separated list, or all (default: this machine's); several only into containerd")
	fs.StringVar(&o.Daemon, "daemon", "", "load into this daemon instead: auto, containerd, docker, podman or tar")
	fs.StringVar(&o.Output, "output", "", "with daemon tar: the docker-save tarball to write")
	fs.IntVar(&o.Jobs, "jobs", 0, "concurrent blob uploads per push (default 4)")
	fs.StringVar(&o.DeduplicatedPush, "deduplicated-push", "", "enabled, best_effort or disabled: replaces every push's deduplicated_push")
	fs.StringVar(&o.DedupBlobRepository, "deduplicated-push-blob-repository", "", "repository every shared layer is uploaded to and mounted from")
	fs.StringVar(&o.DedupContent, "deduplicated-push-content", "", "blobs or blobs_and_artificial_manifests")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return fmt.Errorf("%w (flags: --tag, --registry, --repository, --platform, --daemon, --output, --jobs, --deduplicated-push, --deduplicated-push-blob-repository, --deduplicated-push-content)", err)
	}
	o.Tags, o.Only = tags, only
	if len(specs) == 0 {
		return fmt.Errorf("--spec is required")
	}
	if (len(only) > 0 || bestEffort) && marker == "" {
		return fmt.Errorf("--only and --best-effort are for build actions: give --marker too")
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
	if marker != "" {
		// A build action: Bazel prints whatever a successful action says,
		// once per blob; only failures and warnings are worth that.
		outcomes := deploy.RunAll(ctx, ops, o, deploy.Env{Stderr: io.Discard})
		return writeMarker(marker, outcomes, bestEffort)
	}
	outcomes := deploy.RunAll(ctx, ops, o, deploy.Env{Stderr: os.Stderr, Terminal: tty})
	failed := 0
	for _, r := range outcomes {
		if r.Err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "FAILED  %s\n", r.Err)
		}
	}
	if len(ops) > 1 {
		fmt.Printf("%d operations, %d succeeded, %d failed\n", len(ops), len(ops)-failed, failed)
	}
	for _, r := range outcomes {
		if r.Err == nil {
			fmt.Printf("%-6s %s: %s (%.1fs)\n", r.Spec.Operation, r.Spec.Label, r.Summary, r.Took.Seconds())
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d operations failed", failed, len(ops))
	}
	return nil
}

// writeMarker records what a build action pushed: its output, which makes
// it a validation action. With bestEffort a failure is a warning that the
// marker keeps; otherwise it fails the action and no marker is written.
func writeMarker(path string, outcomes []deploy.Outcome, bestEffort bool) error {
	var b strings.Builder
	for _, r := range outcomes {
		if r.Err != nil {
			if !bestEffort {
				return r.Err
			}
			fmt.Fprintf(os.Stderr, "WARNING: push at build time (best_effort): %s\n", r.Err)
			fmt.Fprintf(&b, "failed: %s\n", r.Err)
			continue
		}
		// Only what the inputs decide, so the marker is the same on every
		// machine; whether a blob was uploaded or already there is not.
		fmt.Fprintf(&b, "%s: pushed\n", r.Spec.Label)
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
}
