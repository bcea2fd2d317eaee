package main

import (
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/base"
	"github.com/rules-img/rules_img/pkg/compact"
	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/kvfile"
	"github.com/rules-img/rules_img/pkg/layer"
	"github.com/rules-img/rules_img/pkg/layer/fromtar"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/ztoc"
)

func init() {
	subcommands["layer"] = subcommand{"write a layer blob and its metadata from a spec or a tar", layerMain}
}

var layerUsage = strings.NewReplacer("ALGORITHMS", strings.Join(compress.Names(), "|")).Replace(`usage:
  img layer --spec SPEC.json --blob OUT_BLOB --metadata OUT_META.json [--compress ALGORITHMS] [--level N] [--jobs N] [--estargz] [--annotation KEY=VALUE]...
  img layer --from-tar IN.tar --blob OUT_BLOB --metadata OUT_META.json [--target LABEL] [--compress auto|ALGORITHMS] [--level N] [--jobs N] [--estargz] [--annotation KEY=VALUE]...
            [--validation strict|traversal_only] [--allow-duplicate-paths] [--allow-device-files]`)

func layerMain(args []string) error {
	fs := newSubcommandFlags("layer")
	specPath := fs.String("spec", "", "layer spec JSON written by the Bazel rule")
	fromTar := fs.String("from-tar", "", "existing tar (plain or compressed: "+strings.Join(compress.Names(), ", ")+") to turn into a layer")
	blobPath := fs.String("blob", "", "output: layer blob")
	metaPath := fs.String("metadata", "", "output: layer metadata JSON")
	algorithm := fs.String("compress", compress.Gzip, strings.Join(compress.Names(), ", ")+"; with --from-tar also auto (keep the input bytes)")
	level := fs.Int("level", -1, "compression level; -1 is the algorithm default ("+compress.Levels()+")")
	jobs := fs.Int("jobs", 1, "compression parallelism; 0 means one per CPU")
	target := fs.String("target", "", "with --from-tar: the Bazel target, for errors")
	validation := fs.String("validation", "strict", "with --from-tar: strict, or traversal_only to pass a vendor's tar through")
	allowDup := fs.Bool("allow-duplicate-paths", false, "with --from-tar: keep paths that occur twice (the later entry wins)")
	allowDev := fs.Bool("allow-device-files", false, "with --from-tar: keep device files and FIFOs")
	esgz := fs.Bool("estargz", false, "write an eStargz layer (gzip with a TOC, for lazy pulling); the spec's prioritized_files come first")
	annotations := keyValueFlag{}
	fs.Var(annotations, "annotation", "KEY=VALUE annotation for the metadata (repeatable)")
	annotationsFile := fs.String("annotations-file", "", "file of annotations (JSON or KEY=VALUE lines); --annotation wins over it")
	mediaType := fs.String("media-type", "", "the layer's media type instead of the one its compression implies (a layer type must name the same compression)")
	var diffIDAnnotations repeatedFlag
	fs.Var(&diffIDAnnotations, "diff-id-annotation", "annotation NAME set to the layer's diffID, e.g. io.deis.oras.content.digest (repeatable)")
	var baseDescriptions repeatedFlag
	fs.Var(&baseDescriptions, "base-description", "with --spec: a description img base wrote, merged in order (the last one wins) into the layer (repeatable)")
	casFunction := casDigestFunctionFlag(fs)
	compactPath := fs.String("compact", "", "with --spec: output: the layer as a compact stream (file contents by reference); --blob is then optional")
	compactCAS := fs.String("compact-cas", "", "with --compact: output: a directory of the referenced file contents, by digest")
	ztocPath := fs.String("ztoc", "", "output: the layer's SOCI ztoc (empty for a layer that gets none)")
	ztocSpan := fs.Int64("ztoc-span", ztoc.DefaultSpan, "with --ztoc: uncompressed bytes between checkpoints")
	ztocMinSize := fs.Int64("ztoc-min-size", 0, "with --ztoc: a smaller layer gets none")
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	casFn, err := oci.CASDigestFunction(*casFunction)
	if err != nil {
		return fmt.Errorf("--cas-digest-function: %w", err)
	}
	switch {
	case (*specPath == "") == (*fromTar == ""):
		return fmt.Errorf("give exactly one of --spec and --from-tar\n%s", layerUsage)
	case (*blobPath == "" && *compactPath == "") || *metaPath == "":
		return fmt.Errorf("--blob (or --compact) and --metadata are required\n%s", layerUsage)
	case *compactPath != "" && (*fromTar != "" || *esgz):
		return fmt.Errorf("--compact takes a --spec layer that is not eStargz: a tar's own bytes and eStargz's layout are not rebuilt from file contents")
	case *compactPath != "" && *ztocPath != "" && *blobPath == "":
		return fmt.Errorf("--ztoc reads the blob: give --blob with --compact")
	case *jobs < 0:
		return fmt.Errorf("--jobs must be >= 0, got %d", *jobs)
	case *algorithm == fromtar.Auto && *fromTar == "":
		return fmt.Errorf("--compress auto only works with --from-tar; use one of %s", strings.Join(compress.Names(), ", "))
	case *esgz && *algorithm != compress.Gzip && *algorithm != fromtar.Auto:
		return fmt.Errorf("--estargz needs gzip: eStargz is gzip with a TOC, so --compress %s cannot be eStargz", *algorithm)
	case *validation != "strict" && *validation != "traversal_only":
		return fmt.Errorf("--validation must be strict or traversal_only, got %q", *validation)
	}
	rules := fromtar.TarRules{AllowDuplicates: *allowDup, AllowDevices: *allowDev, TraversalOnly: *validation == "traversal_only"}
	if *jobs == 0 {
		// At least 2 so gzip always takes the parallel path: its bytes do not
		// depend on the job count, but they differ from the jobs=1 path, and
		// the same command line must give the same blob on every machine.
		*jobs = max(runtime.NumCPU(), 2)
	}
	c := compress.Options{Algorithm: *algorithm, Level: *level, Jobs: *jobs}

	if *annotationsFile != "" {
		fromFile, err := kvfile.Read("annotations_file", *annotationsFile)
		if err != nil {
			return err
		}
		for k, v := range fromFile {
			if _, set := annotations[k]; !set {
				annotations[k] = v
			}
		}
	}
	if *mediaType != "" && !oci.MediaType(*mediaType).Valid() {
		return fmt.Errorf("media_type %q is not a media type (type/subtype, e.g. application/vnd.oci.image.layer.v1.tar+gzip)", *mediaType)
	}
	who := *target
	var rec *compact.Recorder
	var compactFile *os.File
	if *compactPath != "" {
		if compactFile, err = os.Create(*compactPath + ".partial"); err != nil {
			return err
		}
		defer compactFile.Close()
		if rec, err = compact.NewRecorder(compactFile, *compactCAS); err != nil {
			return err
		}
	}
	var built oci.LayerMetadata
	err = writeLayer(*blobPath, *metaPath, casFn, annotations, diffIDAnnotations, func(blob io.Writer) (m oci.LayerMetadata, err error) {
		defer func() {
			if err == nil && *mediaType != "" {
				err = setMediaType(&m, oci.MediaType(*mediaType), who)
			}
		}()
		if *fromTar != "" {
			in, err := os.Open(*fromTar)
			if err != nil {
				return oci.LayerMetadata{}, err
			}
			defer in.Close()
			convert := fromtar.FromTar
			if *esgz {
				convert = fromtar.FromTarEStargz
			}
			m, err := convert(in, blob, c, rules)
			if err != nil {
				if *target != "" {
					return m, fmt.Errorf("%s: %s: %w", *target, *fromTar, err)
				}
				return m, fmt.Errorf("%s: %w", *fromTar, err)
			}
			return m, nil
		}
		f, err := os.Open(*specPath)
		if err != nil {
			return oci.LayerMetadata{}, err
		}
		spec, err := layer.ParseSpec(f)
		f.Close()
		if err != nil {
			return oci.LayerMetadata{}, fmt.Errorf("%s: %w", *specPath, err)
		}
		who = spec.Target
		if err := mergeBase(spec, baseDescriptions); err != nil {
			return oci.LayerMetadata{}, err
		}
		if *esgz {
			return layer.BuildEStargz(spec, blob, c)
		}
		if rec != nil {
			built, err = layer.BuildTo(spec, blob, c, rec)
			return built, err
		}
		return layer.Build(spec, blob, c)
	})
	if err == nil && rec != nil {
		// The stream records how the blob was compressed and what it was,
		// so a rebuild is checked byte for byte.
		if err = rec.Close(c, built); err == nil {
			if err = compactFile.Close(); err == nil {
				err = os.Rename(*compactPath+".partial", *compactPath)
			}
		}
	}
	if err == nil && *ztocPath != "" {
		var z []byte
		if z, err = ztocFor(*blobPath, *metaPath, *ztocSpan, *ztocMinSize); err == nil {
			err = atomicfile.WriteBytes(*ztocPath, z)
		}
	}
	if err != nil {
		// A failed action must leave no output, not even a stale one.
		for _, p := range []string{*blobPath, *metaPath, *blobPath + ".partial", *metaPath + ".partial", *ztocPath, *compactPath, *compactPath + ".partial"} {
			if p != "" {
				os.Remove(p)
			}
		}
	}
	return err
}

// mergeBase puts the merged base descriptions' entries before the spec's.
func mergeBase(spec *layer.Spec, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	descs := make([]base.Description, len(paths))
	for i, p := range paths {
		d, err := base.ReadDescription(p)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.Target, err)
		}
		descs[i] = d
	}
	entries, err := base.Merge(descs)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Target, err)
	}
	spec.Entries = append(entries, spec.Entries...)
	return nil
}

// writeLayer writes the blob and its metadata; both appear, or neither.
// casFn is Bazel's digest function: other than sha256, the blob's key in
// the remote cache is hashed as it is written.
func writeLayer(blobPath, metaPath, casFn string, annotations map[string]string, diffIDAnnotations []string, build func(io.Writer) (oci.LayerMetadata, error)) error {
	var set atomicfile.Set
	defer set.Abort()
	var m oci.LayerMetadata
	var casHash hash.Hash
	write := func(w io.Writer) (err error) {
		if casFn != oci.CASSHA256 {
			casHash, _ = oci.NewHash(casFn + ":")
			w = io.MultiWriter(w, casHash)
		}
		m, err = build(w)
		return err
	}
	var err error
	if blobPath == "" {
		// A compact layer: the blob is hashed and measured, not kept.
		err = write(io.Discard)
	} else {
		err = set.Write(blobPath, write)
	}
	if err != nil {
		return err
	}
	if casHash != nil {
		m.CASDigest = oci.DigestOf(casFn, casHash)
	}
	// The user's annotations join the layer's own (eStargz's TOC digest);
	// a user's value for the same key wins.
	for k, v := range annotations {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[k] = v
	}
	for _, name := range diffIDAnnotations {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[name] = m.DiffID
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := set.WriteBytes(metaPath, b); err != nil {
		return err
	}
	return set.Commit()
}

// setMediaType gives the layer the media type the rule asked for, which must
// not contradict its compression when it is a layer type.
func setMediaType(m *oci.LayerMetadata, mediaType oci.MediaType, target string) error {
	built, _ := m.MediaType.LayerCompression()
	if want, isLayer := mediaType.LayerCompression(); isLayer && want != built {
		err := fmt.Errorf("media_type %s says %s, and the layer is %s: choose a media type of its compression, or change compress", mediaType, compressionName(want), compressionName(built))
		if target != "" {
			err = fmt.Errorf("%s: %w", target, err)
		}
		return err
	}
	m.MediaType = mediaType
	return nil
}

func compressionName(c string) string {
	if c == "" {
		return "uncompressed"
	}
	return c + "-compressed"
}
