package main

import (
	"errors"

	"github.com/rules-img/rules_img/pkg/provenance"
)

func init() {
	subcommands["provenance"] = subcommand{"write an in-toto SLSA provenance v1 statement about an image (image_provenance)", provenanceMain}
}

func provenanceMain(args []string) error {
	fs := newSubcommandFlags("provenance")
	spec := fs.String("spec", "", "JSON spec image_provenance writes")
	out := fs.String("out", "", "the statement to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *spec == "" || *out == "" {
		return errors.New("usage: img provenance --spec SPEC --out STATEMENT.json")
	}
	return provenance.Write(*spec, *out, version)
}
