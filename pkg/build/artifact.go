package build

import (
	"fmt"
	"maps"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// artifact builds the manifest of an OCI artifact (image spec 1.1): its
// config is a blob of config_media_type, not an image config, so nothing of
// a base, rootfs, history or container settings applies. Its layers are
// described as they are.
func artifact(in Input) (Output, error) {
	s := in.Spec
	mt := oci.MediaType(s.ConfigMediaType)
	if !mt.Valid() {
		return Output{}, fmt.Errorf("config_media_type %q is not a media type: want type/subtype, e.g. %s", s.ConfigMediaType, oci.MediaTypeEmpty)
	}
	if in.Base != nil {
		return Output{}, fmt.Errorf("config_media_type %s makes an artifact, which has no image config to inherit: remove base", mt)
	}
	if set := imageSettings(s); len(set) > 0 {
		return Output{}, fmt.Errorf("config_media_type %s makes an artifact, which has no image config: remove %s", mt, strings.Join(set, ", "))
	}
	if mt == oci.MediaTypeEmpty && s.ArtifactType == "" {
		return Output{}, fmt.Errorf("an artifact with the empty config (%s) must say what it is: set artifact_type, e.g. application/spdx+json", mt)
	}
	configBytes := in.FragmentBytes
	if configBytes == nil {
		if mt != oci.MediaTypeEmpty {
			return Output{}, fmt.Errorf("config_media_type %s needs its config blob: set config_fragment to the file (only %s has a default, {})", mt, oci.MediaTypeEmpty)
		}
		configBytes = []byte("{}")
	}
	config := oci.DescriptorFor(mt, configBytes)
	if mt == oci.MediaTypeEmpty && len(configBytes) <= 64 {
		// Small enough to embed, as the spec's empty descriptor does.
		config.Data = configBytes
	}
	layers := []oci.Descriptor{}
	for i, l := range in.Layers {
		// An artifact's blobs need no diffID: there is no rootfs.
		d, err := layerDescriptor(i, l, false)
		if err != nil {
			return Output{}, err
		}
		layers = append(layers, d)
	}
	return output(s.ArtifactType, config, configBytes, layers, maps.Clone(s.Annotations), in.Platform)
}

// imageSettings names the spec's fields that only an image config holds.
func imageSettings(s ConfigSpec) []string {
	var set []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"entrypoint", s.Entrypoint != nil},
		{"cmd", s.Cmd != nil},
		{"env", len(s.Env) > 0},
		{"user", s.User != nil},
		{"working_dir", s.WorkingDir != nil},
		{"labels", len(s.Labels) > 0},
		{"exposed_ports", len(s.ExposedPorts) > 0},
		{"volumes", len(s.Volumes) > 0},
		{"stop_signal", s.StopSignal != nil},
		{"created", s.Created != ""},
	} {
		if f.set {
			set = append(set, f.name)
		}
	}
	return set
}
