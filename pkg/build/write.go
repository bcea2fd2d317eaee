package build

import (
	"errors"

	"github.com/rules-img/rules_img/pkg/atomicfile"
)

// outputFile is one file of an action's output set.
type outputFile struct {
	path string
	data []byte
}

// writeAll writes a set of outputs so that either all of them appear or none
// does.
func writeAll(files ...outputFile) error {
	var set atomicfile.Set
	defer set.Abort()
	for _, f := range files {
		if f.path == "" {
			return errors.New("output path is empty")
		}
		if err := set.WriteBytes(f.path, f.data); err != nil {
			return err
		}
	}
	return set.Commit()
}
