package deploy

import (
	"fmt"
	"maps"

	"github.com/rules-img/rules_img/pkg/stamp"
)

// Templates is what the rules hand `img stamp`: strings that may hold
// {{.KEY}} templates, and the values known at build time besides the
// workspace status (build_settings, the image digest).
type Templates struct {
	Registry   string            `json:"registry,omitempty"`
	Repository string            `json:"repository,omitempty"`
	Tags       []string          `json:"tags"`
	Vars       map[string]string `json:"vars,omitempty"`
	// ManifestTags are image_push's manifest_tags: each is filled once per
	// manifest of an index, with that manifest's Platforms entry
	// ({{.os}}, {{.architecture}}, ...) under Vars.
	ManifestTags []string            `json:"manifest_tags,omitempty"`
	Platforms    []map[string]string `json:"platforms,omitempty"`
}

// Fill expands every template of t. With stamping on, vars hold the
// workspace status too, and a key nothing defines is an error. With it off,
// a template that needs a status key is kept as written: the deploy then
// skips such a tag with a notice, and refuses such a registry or repository.
func (t Templates) Fill(vars map[string]string, stamping bool) (Stamp, error) {
	expand := func(s string) (string, error) { return stamp.Fill(s, vars, stamping) }
	var st Stamp
	var err error
	if st.Registry, err = expand(t.Registry); err != nil {
		return st, fmt.Errorf("registry: %w", err)
	}
	if st.Repository, err = expand(t.Repository); err != nil {
		return st, fmt.Errorf("repository: %w", err)
	}
	st.Tags = make([]string, len(t.Tags))
	for i, tag := range t.Tags {
		if st.Tags[i], err = expand(tag); err != nil {
			return st, fmt.Errorf("tag: %w", err)
		}
	}
	for i, platform := range t.Platforms {
		pv := maps.Clone(platform)
		// Build settings and stamping win over a platform key of the same name.
		maps.Copy(pv, vars)
		tags := make([]string, len(t.ManifestTags))
		for j, tag := range t.ManifestTags {
			if tags[j], err = stamp.Fill(tag, pv, stamping); err != nil {
				return st, fmt.Errorf("manifest_tags (manifest %d, %s): %w", i, platform["platform"], err)
			}
		}
		st.ManifestTags = append(st.ManifestTags, tags)
	}
	return st, nil
}
