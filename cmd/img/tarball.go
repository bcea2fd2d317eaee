package main

import (
	"os"

	"github.com/rules-img/rules_img/pkg/deploy"
)

func init() {
	subcommands["tarball"] = subcommand{"write a docker-save tarball of an image (image_load's tarball output group)", tarballMain}
}

func tarballMain(args []string) error {
	fs := newSubcommandFlags("tarball")
	var out, platform string
	var specs repeatedFlag
	fs.Var(&specs, "spec", "tarball spec JSON written by image_load; repeat for a tarball of several images")
	fs.StringVar(&out, "out", "", "output tarball")
	fs.StringVar(&platform, "platform", "", "platform of an index to write (default: this machine's)")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "spec", "out"); err != nil {
		return err
	}
	var all []*deploy.Spec
	for _, p := range specs {
		s, err := deploy.ReadSpec(p, "")
		if err != nil {
			return err
		}
		all = append(all, s)
	}
	ctx, stop := signalContext()
	defer stop()
	return deploy.WriteTarball(ctx, all, out, platform, deploy.Env{Stderr: os.Stderr})
}
