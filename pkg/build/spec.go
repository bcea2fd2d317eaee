package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/rules-img/rules_img/pkg/oci"
)

// ConfigSpec is the JSON the image rule writes for `img manifest`. Every
// field is optional; JSON null and an absent key both mean "not set". The
// pointer fields tell "not set" (nil) from "set to empty", which for
// entrypoint and cmd clears what a base image or fragment set.
type ConfigSpec struct {
	Target     string            `json:"target"`
	Entrypoint *[]string         `json:"entrypoint"`
	Cmd        *[]string         `json:"cmd"`
	Env        map[string]string `json:"env"`
	User       *string           `json:"user"`
	WorkingDir *string           `json:"working_dir"`
	Labels     map[string]string `json:"labels"`
	// Annotations go on the manifest, not the config.
	Annotations  map[string]string `json:"annotations"`
	ExposedPorts []string          `json:"exposed_ports"`
	Volumes      []string          `json:"volumes"`
	StopSignal   *string           `json:"stop_signal"`
	// Created is RFC 3339; empty means the fragment's, else the Unix epoch.
	Created string `json:"created"`
	// CreatedFile is the path of a file holding Created, e.g. written by a
	// stamped genrule; surrounding white space is ignored.
	CreatedFile string `json:"created_file"`
	// Vars are template variables from build settings, for {{.KEY}} in the
	// values of env, labels and annotations.
	Vars map[string]string `json:"vars"`
	// ConfigFragment is the path of an image config JSON to start from; for
	// an artifact, the config blob itself.
	ConfigFragment string `json:"config_fragment"`
	// ArtifactType is the manifest's artifactType.
	ArtifactType string `json:"artifact_type"`
	// ConfigMediaType other than the OCI image config's makes an artifact:
	// the config blob is ConfigFragment's bytes, or "{}" for the empty type.
	ConfigMediaType string `json:"config_media_type"`
}

// Artifact says whether the spec makes an artifact rather than an image.
func (s ConfigSpec) Artifact() bool {
	return s.ConfigMediaType != "" && oci.MediaType(s.ConfigMediaType) != oci.MediaTypeConfig
}

// ReadConfigSpec reads a spec file. Unknown keys are an error: they mean the
// rule and the tool disagree about the format.
func ReadConfigSpec(path string) (ConfigSpec, error) {
	var s ConfigSpec
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: not a config spec: %w", path, err)
	}
	return s, nil
}

// ReadConfigFragment reads a whole OCI image config used as the starting
// point of an image's config.
func ReadConfigFragment(path string) (oci.ImageConfig, error) {
	var c oci.ImageConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config fragment: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config fragment %s: not an image config: %w: it must be a JSON OCI image config", path, err)
	}
	return c, nil
}
