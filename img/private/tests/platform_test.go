//go:build bazel

// Package tests holds the checks of img/private that need Go: here, that
// Starlark and Go normalise platforms alike.
package tests

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

// TestPlatformNormsAgree reads what platform.bzl made of each platform
// (written by the platform_norms rule) and checks that Go's NormVariant,
// and the matching built on it, say the same.
func TestPlatformNormsAgree(t *testing.T) {
	// Only Bazel builds this file (tag "bazel"), and always with the
	// platform_norms output beside it: a missing file is a broken test.
	b, err := os.ReadFile("platform_norms.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Platform    string   `json:"platform"`
		Name        string   `json:"name"`
		NormVariant string   `json:"norm_variant"`
		SameAs      []string `json:"same_as"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 10 {
		t.Fatalf("only %d platforms in platform_norms.json", len(rows))
	}
	for _, r := range rows {
		p, err := oci.ParsePlatform(r.Platform)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.NormVariant(); got != r.NormVariant {
			t.Errorf("%s: Go normalises the variant to %q, Starlark to %q", r.Platform, got, r.NormVariant)
		}
		if r.Name != p.String() {
			t.Errorf("%s: Starlark names it %q, Go %q", r.Platform, r.Name, p.String())
		}
		var same []string
		for _, o := range rows {
			q, _ := oci.ParsePlatform(o.Platform)
			if p.Same(q) {
				same = append(same, o.Platform)
			}
		}
		if !slices.Equal(same, r.SameAs) {
			t.Errorf("%s: Go matches %v, Starlark %v", r.Platform, same, r.SameAs)
		}
	}
}
