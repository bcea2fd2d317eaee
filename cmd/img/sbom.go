package main

import (
	"errors"

	"github.com/rules-img/rules_img/pkg/sbom"
)

func init() {
	subcommands["sbom"] = subcommand{"write an SBOM (SPDX 2.3, CycloneDX 1.6) of what an image's own layers hold (image_sbom)", sbomMain}
}

func sbomMain(args []string) error {
	fs := newSubcommandFlags("sbom")
	spec := fs.String("spec", "", "JSON spec image_sbom writes: the image's descriptor, configs, own layers and bases")
	spdx := fs.String("spdx", "", "write the SPDX 2.3 JSON document here")
	cdx := fs.String("cyclonedx", "", "write the CycloneDX 1.6 JSON document here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *spec == "" || (*spdx == "" && *cdx == "") {
		return errors.New("usage: img sbom --spec SPEC [--spdx OUT] [--cyclonedx OUT]")
	}
	return sbom.Write(*spec, *spdx, *cdx)
}
