package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/layer/fromtar"
	"github.com/rules-img/rules_img/pkg/oci"
)

func init() {
	subcommands["file-layer"] = subcommand{"write the metadata of any file used as a layer blob as it is (layer_from_file)", fileLayerMain}
}

func fileLayerMain(args []string) error {
	fs := newSubcommandFlags("file-layer")
	src := fs.String("src", "", "the file, used as the blob unchanged")
	mediaType := fs.String("media-type", string(oci.MediaTypeLayer), "the blob's media type")
	diffID := fs.Bool("diff-id", false, "the file is a tar (plain, gzip or zstd): its diffID is the digest of the uncompressed tar")
	metaPath := fs.String("metadata", "", "output: layer metadata JSON")
	target := fs.String("target", "", "the Bazel target, for errors")
	annotations := keyValueFlag{}
	fs.Var(annotations, "annotation", "KEY=VALUE annotation (repeatable)")
	var diffIDAnnotations, baseNameAnnotations repeatedFlag
	fs.Var(&diffIDAnnotations, "diff-id-annotation", "annotation NAME set to the diffID (repeatable)")
	fs.Var(&baseNameAnnotations, "base-name-annotation", "annotation NAME set to the file's base name (repeatable)")
	casFunction := casDigestFunctionFlag(fs)
	if err := parseSubcommandFlags(fs, args); err != nil {
		return err
	}
	casFn, err := oci.CASDigestFunction(*casFunction)
	if err != nil {
		return fmt.Errorf("--cas-digest-function: %w", err)
	}
	if err := requireSubcommandFlags(fs, "src", "metadata"); err != nil {
		return err
	}
	who := *target
	if who == "" {
		who = "img file-layer"
	}
	if !strings.Contains(*mediaType, "/") {
		return fmt.Errorf("%s: media_type %q is not a media type such as application/vnd.oci.image.layer.v1.tar", who, *mediaType)
	}
	m, err := fromtar.FromFile(*src, oci.MediaType(*mediaType), *diffID)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", who, *src, err)
	}
	if casFn != oci.CASSHA256 {
		if m.CASDigest, err = fileDigest(*src, casFn); err != nil {
			return fmt.Errorf("%s: %s: %w", who, *src, err)
		}
	}
	all := map[string]string{}
	for _, name := range baseNameAnnotations {
		all[name] = filepath.Base(*src)
	}
	for _, name := range diffIDAnnotations {
		all[name] = m.DiffID
	}
	for k, v := range annotations {
		all[k] = v
	}
	if len(all) > 0 {
		m.Annotations = all
	}
	return atomicfile.WriteJSON(*metaPath, m)
}

// casDigestFunctionFlag is --cas-digest-function, for the actions that write
// layer metadata.
func casDigestFunctionFlag(fs *flag.FlagSet) *string {
	return fs.String("cas-digest-function", oci.CASSHA256, "Bazel's --digest_function (sha256 or sha1): other than sha256, the metadata records the blob's key in the remote cache")
}

// fileDigest hashes a file with algorithm alg.
func fileDigest(path, alg string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h, err := oci.NewHash(alg + ":")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return oci.DigestOf(alg, h), nil
}
