package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/layer/estargz"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/soci"
	"github.com/rules-img/rules_img/pkg/ztoc"
)

func init() {
	subcommands["ztoc"] = subcommand{"write soci-snapshotter's ztoc (table of contents and gzip checkpoints) of a gzip layer", ztocMain}
	subcommands["soci-index"] = subcommand{"write the SOCI index manifest (v2) of an image's layers from their ztocs", sociIndexMain}
}

func ztocMain(args []string) error {
	fs := newSubcommandFlags("ztoc")
	blob := fs.String("blob", "", "the layer")
	metadata := fs.String("metadata", "", "the layer's metadata (img layer's): only a gzip layer gets a ztoc")
	span := fs.Int64("span", ztoc.DefaultSpan, "uncompressed bytes between checkpoints")
	minSize := fs.Int64("min-size", 0, "a smaller layer gets no ztoc (an empty file)")
	output := fs.String("output", "", "write the ztoc here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *blob == "" || *output == "" {
		return errors.New("usage: img ztoc --blob LAYER [--metadata JSON] [--span BYTES] [--min-size BYTES] --output ZTOC")
	}
	z, err := ztocFor(*blob, *metadata, *span, *minSize)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(*output, z)
}

// ztocFor is the ztoc of a layer file, or nothing for a layer that gets
// none: below minSize, not gzip, or eStargz (by its metadata, when given).
func ztocFor(blob, metadata string, span, minSize int64) ([]byte, error) {
	if metadata != "" {
		md, err := oci.ReadLayerMetadata(metadata)
		if err != nil {
			return nil, err
		}
		// eStargz is lazily pulled by its own TOC, and its gzip members
		// would cut a ztoc's spans.
		if c, _ := md.MediaType.LayerCompression(); c != "gzip" || md.Annotations[estargz.AnnotationTOCDigest] != "" {
			return nil, nil
		}
	}
	f, err := os.Open(blob)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < minSize {
		return nil, nil
	}
	// No version in the name: a ztoc depends on the layer and the span alone.
	z, err := ztoc.Build(f, st.Size(), span, ztoc.Tool)
	if err != nil {
		return nil, fmt.Errorf("ztoc of %s: %w", blob, err)
	}
	return z, nil
}

func sociIndexMain(args []string) error {
	fs := newSubcommandFlags("soci-index")
	var layers repeatedFlag
	fs.Var(&layers, "layer", "LAYER_METADATA=ZTOC, in the image's layer order; an empty ZTOC file: the layer has none")
	span := fs.Int64("span", ztoc.DefaultSpan, "the span the ztocs were written with")
	manifest := fs.String("manifest", "", "output: the SOCI index manifest (empty when no layer has a ztoc)")
	descriptor := fs.String("descriptor", "", "output: its descriptor (empty when no layer has a ztoc)")
	config := fs.String("config", "", "output: its config blob, {}")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *manifest == "" || *descriptor == "" || *config == "" {
		return errors.New("usage: img soci-index --layer METADATA=ZTOC... --manifest OUT --descriptor OUT --config OUT")
	}
	var in []soci.Layer
	for _, l := range layers {
		i := strings.LastIndex(l, "=")
		if i <= 0 {
			return fmt.Errorf("--layer %q: want LAYER_METADATA=ZTOC", l)
		}
		meta, err := oci.ReadLayerMetadata(l[:i])
		if err != nil {
			return err
		}
		in = append(in, soci.Layer{Metadata: meta, Ztoc: l[i+1:]})
	}
	idx, ok, err := soci.Build(in, *span, ztoc.Tool)
	if err != nil {
		return err
	}
	var desc []byte
	if ok {
		if desc, err = oci.Marshal(idx.Descriptor); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteBytes(*config, soci.Config); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(*manifest, idx.Manifest); err != nil {
		return err
	}
	return atomicfile.WriteBytes(*descriptor, desc)
}
