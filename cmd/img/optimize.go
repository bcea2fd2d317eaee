package main

import "github.com/rules-img/rules_img/pkg/build"

func init() {
	subcommands["optimize"] = subcommand{"rewrite an image's manifest for recompressed layers (image_optimize)", optimizeMain}
}

func optimizeMain(args []string) error {
	fs := newSubcommandFlags("optimize")
	var f build.OptimizeFiles
	var layers repeatedFlag
	fs.StringVar(&f.Target, "target", "image_optimize", "the Bazel target, for errors")
	fs.StringVar(&f.SourceManifest, "source-manifest", "", "the image's manifest")
	fs.StringVar(&f.SourceConfig, "source-config", "", "the image's config")
	fs.Var(&layers, "layer", "metadata of each new layer, in the manifest's order; repeat")
	fs.StringVar(&f.Manifest, "manifest", "", "output: the new manifest")
	fs.StringVar(&f.Config, "config", "", "output: the config (rewritten only if a diffID changed)")
	fs.StringVar(&f.Descriptor, "descriptor", "", "output: descriptor of the new manifest, with platform")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "source-manifest", "source-config", "manifest", "config", "descriptor"); err != nil {
		return err
	}
	f.Layers = layers
	return build.WriteOptimized(f)
}
