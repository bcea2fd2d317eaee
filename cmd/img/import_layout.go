package main

import (
	"github.com/rules-img/rules_img/pkg/fromlayout"
)

func init() {
	subcommands["import-layout"] = subcommand{"take images from an OCI image layout directory (image_manifest_from_oci_layout, image_index_from_oci_layout)", importLayoutMain}
}

func importLayoutMain(args []string) error {
	fs := newSubcommandFlags("import-layout")
	specPath := fs.String("spec", "", "JSON naming the layout, the platforms and every output")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "spec"); err != nil {
		return err
	}
	s, err := fromlayout.ReadSpec(*specPath)
	if err != nil {
		return err
	}
	return fromlayout.Convert(s)
}
