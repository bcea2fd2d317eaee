package main

import (
	"fmt"
	"os"

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
	var tags repeatedFlag
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
	if err := parseSubcommandFlags(fs, args); err != nil {
		return fmt.Errorf("%w (flags: --tag, --registry, --repository, --platform, --daemon, --output, --jobs)", err)
	}
	o.Tags = tags
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
