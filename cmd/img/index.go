package main

import "github.com/rules-img/rules_img/pkg/build"

func init() {
	subcommands["index"] = subcommand{"write a multi-platform image index from manifest descriptors", indexMain}
}

func indexMain(args []string) error {
	fs := newSubcommandFlags("index")
	var f build.IndexFiles
	var manifests, status, annotationFiles repeatedFlag
	annotations, vars, sociIndexes := keyValueFlag{}, keyValueFlag{}, keyValueFlag{}
	fs.Var(&manifests, "manifest-descriptor", "descriptor JSON written by img manifest; repeat, in order")
	fs.Var(annotations, "annotation", "KEY=VALUE annotation of the index; repeatable")
	fs.Var(vars, "var", "KEY=VALUE template variable (a build setting) for {{.KEY}} in annotations; repeatable")
	fs.Var(&annotationFiles, "annotations-file", "file of more annotations (JSON or KEY=VALUE lines), which --annotation overrides; repeat")
	fs.Var(&status, "status", "workspace status file, when stamping (templates in annotations); repeat")
	fs.Var(sociIndexes, "soci-index", "MANIFEST_DESCRIPTOR=SOCI_DESCRIPTOR: list that image's SOCI index (img soci-index) after the images; repeatable")
	fs.StringVar(&f.Target, "target", "", "label of the rule, for error messages")
	fs.StringVar(&f.Index, "index", "", "output: image index")
	fs.StringVar(&f.Descriptor, "descriptor", "", "output: descriptor of the index")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "index", "descriptor"); err != nil {
		return err
	}
	f.Manifests, f.Status, f.Vars, f.AnnotationFiles, f.SociIndexes = manifests, status, vars, annotationFiles, sociIndexes
	if len(annotations) > 0 {
		f.Annotations = annotations
	}
	return build.WriteIndex(f)
}
