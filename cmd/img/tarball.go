package main

import (
	"fmt"
	"io"
	"os"

	"github.com/rules-img/rules_img/pkg/deploy"
	"github.com/rules-img/rules_img/pkg/load"
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
	src, err := sources(s)
	if err != nil {
		return err
	}
	img, err := s.BuildImage(src)
	if err != nil {
		return err
	}
	m, err := load.SelectManifest(img, platform)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Label, err)
	}
	ctx, stop := signalContext()
	defer stop()
	return writeFileStreaming(out, func(w io.Writer) error {
		return load.WriteDockerArchive(ctx, w, m, loadRefs(s.Repository, s.Tags))
	})
}

// writeFileStreaming writes path through path.partial and a rename, so a
// failure never leaves a truncated file under the final name.
func writeFileStreaming(path string, write func(io.Writer) error) error {
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
