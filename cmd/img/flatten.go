package main

import (
	"io"
	"os"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/flatten"
)

func init() {
	subcommands["flatten"] = subcommand{"write an image's merged file system as one tar, and its config (container_flatten)", flattenMain}
}

func flattenMain(args []string) error {
	fs := newSubcommandFlags("flatten")
	layout := fs.String("layout", "", "OCI layout directory of one image")
	out := fs.String("out", "", "output: the file system tar")
	configOut := fs.String("config-out", "", "output: the image config JSON")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "layout", "out", "config-out"); err != nil {
		return err
	}
	layers, config, err := flatten.FromLayout(*layout)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(config)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(*out, func(w io.Writer) error { return flatten.Write(layers, w) }); err != nil {
		return err
	}
	return os.WriteFile(*configOut, b, 0o644)
}
