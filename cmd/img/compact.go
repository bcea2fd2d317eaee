package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/compact"
)

func init() {
	subcommands["rebuild-layer"] = subcommand{"rebuild a layer blob, byte for byte, from its compact stream and the referenced file contents", rebuildLayerMain}
}

func rebuildLayerMain(args []string) error {
	fs := newSubcommandFlags("rebuild-layer")
	stream := fs.String("compact", "", "the compact stream img layer --compact wrote")
	cas := fs.String("compact-cas", "", "the directory of referenced file contents it wrote")
	out := fs.String("blob", "", "output: the layer blob")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stream == "" || *cas == "" || *out == "" {
		return errors.New("usage: img rebuild-layer --compact STREAM --compact-cas DIR --blob OUT")
	}
	f, err := os.Open(*stream)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return atomicfile.Write(*out, func(w io.Writer) error {
		if _, err := compact.Rebuild(f, st.Size(), compact.DirOpener(*cas), w); err != nil {
			return fmt.Errorf("%s: %w", *stream, err)
		}
		return nil
	})
}
