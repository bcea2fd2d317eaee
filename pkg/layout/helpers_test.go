package layout

import (
	"path/filepath"

	"github.com/rules-img/rules_img/pkg/build"
)

// imageOut returns ImageFiles outputs under dir.
func imageOut(dir string, f build.ImageFiles) build.ImageFiles {
	f.Manifest = filepath.Join(dir, "manifest.json")
	f.Config = filepath.Join(dir, "config.json")
	f.Descriptor = filepath.Join(dir, "descriptor.json")
	return f
}
