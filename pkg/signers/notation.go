package signers

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// notation signs with `notation sign --oci-layout`: notation writes its own
// signature artifact into a layout holding just the subject's manifest,
// and the plugin hands that artifact on unchanged. That needs the
// manifest's bytes, which img passes in the descriptor's data.
func notation(ctx context.Context, args []string, subject oci.Descriptor, stderr io.Writer) ([]byte, [][]byte, error) {
	fs := flag.NewFlagSet("img signer notation", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "signing key name, as `notation key ls` lists it (default: notation's default key)")
	format := fs.String("signature-format", "jws", "jws or cose")
	plugin := fs.String("plugin", "", "notation plugin that holds the key (with --id)")
	id := fs.String("id", "", "key id in --plugin")
	bin := fs.String("notation", "", "the notation program (default: notation on PATH)")
	pluginConfig := map[string]string{}
	fs.Func("plugin-config", "KEY=VALUE for the --plugin (repeatable)", func(s string) error {
		k, v, err := keyValue(s)
		pluginConfig[k] = v
		return err
	})
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if *format != "jws" && *format != "cose" {
		return nil, nil, fmt.Errorf("--signature-format %q: use jws or cose", *format)
	}
	if subject.Data == nil {
		return nil, nil, errors.New("the descriptor has no data: notation signs the manifest's bytes, which img passes in the descriptor's data field")
	}
	path, err := lookPath(*bin, "notation", "notation")
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(tempDir(ctx), "layout")
	blob := func(d string) string {
		return filepath.Join(dir, "blobs", strings.Replace(d, ":", string(filepath.Separator), 1))
	}
	if err := os.MkdirAll(filepath.Dir(blob(subject.Digest)), 0o700); err != nil {
		return nil, nil, err
	}
	idx, err := oci.Marshal(oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: []oci.Descriptor{{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}}})
	if err != nil {
		return nil, nil, err
	}
	for name, b := range map[string][]byte{
		blob(subject.Digest):             subject.Data,
		filepath.Join(dir, "index.json"): idx,
		filepath.Join(dir, "oci-layout"): []byte(`{"imageLayoutVersion":"1.0.0"}`),
	} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return nil, nil, err
		}
	}
	cmd := []string{"sign", "--oci-layout", "--signature-format", *format}
	if *key != "" {
		cmd = append(cmd, "--key", *key)
	}
	if *plugin != "" {
		cmd = append(cmd, "--plugin", *plugin, "--id", *id)
	}
	keys := make([]string, 0, len(pluginConfig))
	for k := range pluginConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd = append(cmd, "--plugin-config", k+"="+pluginConfig[k])
	}
	// --oci-layout is experimental in notation 1.x.
	os.Setenv("NOTATION_EXPERIMENTAL", "1")
	if err := run(ctx, stderr, path, append(cmd, dir+"@"+subject.Digest)...); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, nil, err
	}
	var after oci.Index
	if err := json.Unmarshal(b, &after); err != nil {
		return nil, nil, fmt.Errorf("notation left no readable index.json: %v", err)
	}
	for _, d := range after.Manifests {
		if d.Digest == subject.Digest {
			continue
		}
		raw, err := os.ReadFile(blob(d.Digest))
		if err != nil {
			return nil, nil, err
		}
		var m oci.Manifest
		if err := json.Unmarshal(raw, &m); err != nil || m.Subject == nil || m.Subject.Digest != subject.Digest {
			continue
		}
		blobs := [][]byte{}
		for _, ref := range append([]oci.Descriptor{m.Config}, m.Layers...) {
			data, err := os.ReadFile(blob(ref.Digest))
			if err != nil {
				return nil, nil, fmt.Errorf("notation's signature: %w", err)
			}
			blobs = append(blobs, data)
		}
		return raw, blobs, nil
	}
	return nil, nil, errors.New("notation signed, but left no signature of the subject in the layout")
}
