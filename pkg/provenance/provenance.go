// Package provenance writes an in-toto statement of SLSA provenance v1
// about an image: what was built (the image's digest), from what (the
// source revision, pulled base images) and by which builder and img. It
// holds only what the action's inputs say, so an unstamped build writes
// the same statement everywhere.
package provenance

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/stamp"
)

// BuildType names how rules_img builds, for verifiers' policies.
const BuildType = "https://github.com/rules-img/rules_img/provenance/bazel/v1"

// Spec is what image_provenance's action reads.
type Spec struct {
	Target     string            `json:"target"`     // the image's label
	Descriptor string            `json:"descriptor"` // its descriptor file
	Platforms  []string          `json:"platforms"`  // os/arch[/variant] of its manifests
	Bases      []Base            `json:"bases,omitempty"`
	BuilderID  string            `json:"builder_id"` // may hold templates
	SourceURI  string            `json:"source_uri,omitempty"`
	Revision   string            `json:"source_revision,omitempty"`
	Vars       map[string]string `json:"vars,omitempty"`
	Status     []string          `json:"status,omitempty"` // workspace status files, when stamped
	ImgVersion string            `json:"-"`
}

// Base is a pulled base image.
type Base struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
}

type resource struct {
	URI    string            `json:"uri,omitempty"`
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// Write reads the spec and writes the statement to out.
func Write(specPath, out, imgVersion string) error {
	var s Spec
	b, err := os.ReadFile(specPath)
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		return fmt.Errorf("provenance spec: %w", err)
	}
	s.ImgVersion = imgVersion
	stmt, err := Statement(s)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Target, err)
	}
	var set atomicfile.Set
	defer set.Abort()
	if err := set.WriteBytes(out, stmt); err != nil {
		return err
	}
	return set.Commit()
}

// Statement builds the statement JSON.
func Statement(s Spec) ([]byte, error) {
	desc, err := oci.ReadDescriptor(s.Descriptor)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for k, v := range s.Vars {
		vars[k] = v
	}
	stamping := len(s.Status) > 0
	if stamping {
		st, err := stamp.ReadStatus(s.Status...)
		if err != nil {
			return nil, err
		}
		for k, v := range st {
			vars[k] = v
		}
	}
	fill := func(what, v string) (string, error) {
		out, err := stamp.Fill(v, vars, stamping)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if stamp.HasTemplate(out) {
			return "", nil // unstamped: left out, not written as a template
		}
		return out, nil
	}
	builder, err := fill("builder_id", s.BuilderID)
	if err != nil {
		return nil, err
	}
	if builder == "" {
		return nil, fmt.Errorf("builder_id %q is empty once filled: set builder_id, or build with --stamp", s.BuilderID)
	}
	var deps []resource
	if s.SourceURI != "" {
		uri, err := fill("source_uri", s.SourceURI)
		if err != nil {
			return nil, err
		}
		rev, err := fill("source_revision", s.Revision)
		if err != nil {
			return nil, err
		}
		if uri != "" {
			r := resource{URI: uri}
			if rev != "" {
				r.Digest = map[string]string{"gitCommit": rev}
			}
			deps = append(deps, r)
		}
	}
	for _, b := range s.Bases {
		alg, hex, _ := strings.Cut(b.Digest, ":")
		deps = append(deps, resource{URI: "oci://" + b.Registry + "/" + b.Repository, Digest: map[string]string{alg: hex}})
	}
	alg, hex, _ := strings.Cut(desc.Digest, ":")
	metadata := map[string]any{}
	if rfc := vars["BUILD_TIMESTAMP_RFC3339"]; stamping && rfc != "" {
		metadata["startedOn"] = rfc
	}
	run := map[string]any{
		"builder": map[string]any{"id": builder, "version": map[string]string{"rules_img": s.ImgVersion}},
	}
	if len(metadata) > 0 {
		run["metadata"] = metadata
	}
	params := map[string]any{"target": s.Target}
	if len(s.Platforms) > 0 {
		params["platforms"] = s.Platforms
	}
	if deps == nil {
		deps = []resource{}
	}
	return oci.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []resource{{Name: s.Target, Digest: map[string]string{alg: hex}}},
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate": map[string]any{
			"buildDefinition": map[string]any{
				"buildType":            BuildType,
				"externalParameters":   params,
				"resolvedDependencies": deps,
			},
			"runDetails": run,
		},
	})
}
