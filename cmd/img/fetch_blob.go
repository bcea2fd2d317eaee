package main

import (
	"fmt"
	"os"

	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/pull"
)

func init() {
	subcommands["fetch-blob"] = subcommand{"download the blob of a pulled layer from its source registry", fetchBlobMain}
}

func fetchBlobMain(args []string) error {
	fs := newSubcommandFlags("fetch-blob")
	var metaPath, out string
	var rf registryFlags
	fs.StringVar(&metaPath, "metadata", "", "layer metadata JSON with a source, written by img pull")
	fs.StringVar(&out, "out", "", "output: the blob file")
	rf.register(fs)
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "metadata", "out"); err != nil {
		return err
	}
	m, err := oci.ReadLayerMetadata(metaPath)
	if err != nil {
		return err
	}
	if m.Source == nil {
		return fmt.Errorf("%s: layer metadata has no source registry to fetch from", metaPath)
	}
	kc, err := rf.keychain()
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	return pull.FetchBlob(ctx, *m.Source, m.Digest, m.Size, out, pull.FetchOptions{
		Keychain: kc, Insecure: rf.insecure, Name: m.Digest, Progress: os.Stderr,
	})
}
