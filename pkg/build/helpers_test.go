package build

import (
	"path/filepath"
)

// imageOut returns ImageFiles outputs under dir.
func imageOut(dir string, f ImageFiles) ImageFiles {
	f.Manifest = filepath.Join(dir, "manifest.json")
	f.Config = filepath.Join(dir, "config.json")
	f.Descriptor = filepath.Join(dir, "descriptor.json")
	return f
}
