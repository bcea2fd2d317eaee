package main

import (
	"os"

	"github.com/rules-img/rules_img/pkg/oci"
)

func init() {
	subcommands["digest"] = subcommand{"write the digest a descriptor names, as sha256:... (the digest output group)", digestMain}
}

func digestMain(args []string) error {
	fs := newSubcommandFlags("digest")
	descriptor := fs.String("descriptor", "", "descriptor JSON of an image or index")
	out := fs.String("out", "", "output: the digest, with no newline (as rules_oci's NAME.digest)")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "descriptor", "out"); err != nil {
		return err
	}
	d, err := oci.ReadDescriptor(*descriptor)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, []byte(d.Digest), 0o644)
}
