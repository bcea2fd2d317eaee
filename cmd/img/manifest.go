package main

import "github.com/rules-img/rules_img/pkg/build"

func init() {
	subcommands["manifest"] = subcommand{"write an image's config, manifest and descriptor from layer metadata", manifestMain}
}

func manifestMain(args []string) error {
	fs := newSubcommandFlags("manifest")
	var f build.ImageFiles
	var layers, status repeatedFlag
	fs.Var(&status, "status", "workspace status file, when stamping (templates in env, labels, annotations); repeat")
	fs.Var(&layers, "layer", "layer metadata JSON written by img layer; repeat, in order")
	fs.StringVar(&f.Spec, "config-spec", "", "config spec JSON written by the image rule")
	fs.StringVar(&f.Platform.OS, "os", "", "target OS (GOOS), e.g. linux")
	fs.StringVar(&f.Platform.Architecture, "arch", "", "target architecture (GOARCH), e.g. amd64")
	fs.StringVar(&f.Platform.Variant, "variant", "", "optional CPU variant, e.g. v8")
	fs.StringVar(&f.BaseConfig, "base-config", "", "optional base image config JSON (needs --base-manifest)")
	fs.StringVar(&f.BaseManifest, "base-manifest", "", "optional base image manifest JSON (needs --base-config)")
	fs.StringVar(&f.Manifest, "manifest", "", "output: image manifest")
	fs.StringVar(&f.Config, "config", "", "output: image config")
	fs.StringVar(&f.Descriptor, "descriptor", "", "output: descriptor of the manifest, with platform")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "config-spec", "os", "arch", "manifest", "config", "descriptor"); err != nil {
		return err
	}
	f.Layers, f.Status = layers, status
	return build.WriteImage(f)
}
