package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/rules-img/rules_img/pkg/internal/text"
	"github.com/rules-img/rules_img/pkg/kvfile"
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
	// CreatedTimestamp is a template for Created (upstream's
	// created_timestamp, e.g. "{{.BUILD_TIMESTAMP_RFC3339}}"); when it
	// expands to nothing, or needs stamping the build lacks, Created stays.
	CreatedTimestamp string `json:"created_timestamp,omitempty"`
	// Vars are template variables from build settings, for {{.KEY}} in the
	// values of env, labels and annotations.
	Vars map[string]string `json:"vars"`
	// ConfigFragment is the path of an image config JSON to start from; for
	// an artifact, the config blob itself.
	ConfigFragment string `json:"config_fragment"`
	// ArtifactType is the manifest's artifactType.
	ArtifactType string `json:"artifact_type"`
	// Subject is the path of the descriptor of the image this manifest
	// refers to (an SBOM's image): it becomes the manifest's subject.
	Subject string `json:"subject,omitempty"`
	// SociIndex is the path of the descriptor of the image's SOCI index
	// (img soci-index), named by an annotation; an empty file means none.
	SociIndex string `json:"soci_index,omitempty"`
	// ConfigMediaType other than the OCI image config's makes an artifact:
	// the config blob is ConfigFragment's bytes, or "{}" for the empty type.
	ConfigMediaType string `json:"config_media_type"`
	// Files set fields from files, as rules_oci's attributes take them:
	// "env", "labels" and "annotations" hold NAME=VALUE lines; "entrypoint",
	// "cmd", "exposed_ports" and "volumes" a comma-separated list. They are
	// read when the action runs, so a stamped genrule may write them.
	Files map[string]string `json:"files"`
	// EnvFiles, LabelFiles and AnnotationFiles are upstream rules_img's
	// env_file, label_files and annotations_file: JSON or KEY=VALUE files
	// whose entries the dict attributes override (see pkg/kvfile).
	EnvFiles        []string `json:"env_files,omitempty"`
	LabelFiles      []string `json:"label_files,omitempty"`
	AnnotationFiles []string `json:"annotation_files,omitempty"`
}

// fileFields are the fields Files may set, and whether each is a list.
var fileFields = map[string]bool{
	"env": false, "labels": false, "annotations": false,
	"entrypoint": true, "cmd": true, "exposed_ports": true, "volumes": true,
}

// readFiles merges Files into the spec. A field set both ways is an error:
// which one should win is not obvious to whoever reads the BUILD file.
func (s *ConfigSpec) readFiles() error {
	for field, path := range s.Files {
		list, ok := fileFields[field]
		if !ok {
			return fmt.Errorf("files: no field %q: use env, labels, annotations, entrypoint, cmd, exposed_ports or volumes", field)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		if list {
			if err := s.setList(field, path, splitList(string(b))); err != nil {
				return err
			}
			continue
		}
		pairs, err := parsePairs(field, path, string(b))
		if err != nil {
			return err
		}
		dst := map[string]*map[string]string{"env": &s.Env, "labels": &s.Labels, "annotations": &s.Annotations}[field]
		if len(*dst) > 0 {
			return fmt.Errorf("%s: set both as a dict and in %s: use one", field, path)
		}
		*dst = pairs
	}
	for _, m := range []struct {
		what  string
		files []string
		dst   *map[string]string
	}{{"env_file", s.EnvFiles, &s.Env}, {"label_files", s.LabelFiles, &s.Labels}, {"annotations_file", s.AnnotationFiles, &s.Annotations}} {
		var err error
		if *m.dst, err = MergeFiles(m.what, m.files, *m.dst); err != nil {
			return err
		}
	}
	return nil
}

// MergeFiles returns values with the entries of the files (pkg/kvfile) that
// values lacks: a later file wins over an earlier one, values over both.
func MergeFiles(what string, files []string, values map[string]string) (map[string]string, error) {
	if len(files) == 0 {
		return values, nil
	}
	out := map[string]string{}
	for _, path := range files {
		m, err := kvfile.Read(what, path)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, m)
	}
	maps.Copy(out, values)
	return out, nil
}

func (s *ConfigSpec) setList(field, path string, items []string) error {
	both := fmt.Errorf("%s: set both as a list and in %s: use one", field, path)
	switch field {
	case "entrypoint", "cmd":
		dst := &s.Entrypoint
		if field == "cmd" {
			dst = &s.Cmd
		}
		if *dst != nil {
			return both
		}
		*dst = &items
	case "exposed_ports":
		if len(s.ExposedPorts) > 0 {
			return both
		}
		s.ExposedPorts = items
	case "volumes":
		if len(s.Volumes) > 0 {
			return both
		}
		s.Volumes = items
	}
	return nil
}

// splitList reads "a,b,c" (a trailing newline, as `echo` writes, is not
// part of the last item); an empty file is an empty list.
func splitList(content string) []string {
	content = strings.TrimRight(content, "\r\n")
	if content == "" {
		return []string{}
	}
	return strings.Split(content, ",")
}

// parsePairs reads NAME=VALUE lines; blank lines are skipped, and the value
// is everything after the first "=".
func parsePairs(field, path, content string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(content, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: %s line %d is %q, not NAME=VALUE", field, path, i+1, text.FirstLine(line, 80))
		}
		out[name] = value
	}
	return out, nil
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
