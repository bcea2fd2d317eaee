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
	var spec, out, platform string
	fs.StringVar(&spec, "spec", "", "tarball spec JSON written by image_load")
	fs.StringVar(&out, "out", "", "output tarball")
	fs.StringVar(&platform, "platform", "", "platform of an index to write (default: this machine's)")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "spec", "out"); err != nil {
		return err
	}
	s, err := deploy.ReadSpec(spec, "")
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	return s.WriteTarball(ctx, out, platform, deploy.Env{Stderr: os.Stderr})
}
