package main

import "github.com/rules-img/rules_img/pkg/oci"

func init() {
	subcommands["layout"] = subcommand{"write an OCI image layout directory", layoutMain}
}

func layoutMain(args []string) error {
	fs := newSubcommandFlags("layout")
	var f oci.LayoutFiles
	var blobs repeatedFlag
	fs.StringVar(&f.Root, "root", "", "descriptor JSON of the top manifest or index")
	fs.Var(&blobs, "blob", "a blob of the image (manifest, config, index or layer); repeat")
	fs.StringVar(&f.Out, "out", "", "output: layout directory, absent or empty")
	fs.StringVar(&f.RefName, "ref-name", "", "optional org.opencontainers.image.ref.name of the root in index.json")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "root", "out"); err != nil {
		return err
	}
	f.Blobs = blobs
	return oci.WriteLayout(f)
}
