package main

import (
	"os"

	"github.com/rules-img/rules_img/pkg/layout"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/pull"
)

func init() {
	subcommands["layout"] = subcommand{"write an OCI image layout directory", layoutMain}
}

func layoutMain(args []string) error {
	fs := newSubcommandFlags("layout")
	var f layout.Files
	var blobs, remote repeatedFlag
	var rf registryFlags
	fs.StringVar(&f.Root, "root", "", "descriptor JSON of the top manifest or index")
	fs.Var(&blobs, "blob", "a blob of the image (manifest, config, index or layer); repeat")
	fs.Var(&remote, "remote-layer", "layer metadata JSON with a source (from img pull) whose blob is fetched if the image references it; repeat")
	fs.StringVar(&f.Out, "out", "", "output: layout directory, absent or empty")
	fs.StringVar(&f.RefName, "ref-name", "", "optional org.opencontainers.image.ref.name of the root in index.json")
	rf.register(fs)
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	if err := requireSubcommandFlags(fs, "root", "out"); err != nil {
		return err
	}
	f.Blobs = blobs
	f.RemoteLayers = remote
	if len(remote) > 0 {
		kc, err := rf.keychain()
		if err != nil {
			return err
		}
		ctx, stop := signalContext()
		defer stop()
		f.Fetch = func(m oci.LayerMetadata, dst string) error {
			return pull.FetchBlob(ctx, *m.Source, m.Digest, m.Size, dst, pull.FetchOptions{
				Keychain: kc, Insecure: rf.insecure, Name: m.Digest, Progress: os.Stderr,
			})
		}
	}
	return layout.Write(f)
}
