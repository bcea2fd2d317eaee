package oci

import (
	"errors"
	"os"
)

// outputFile is one file of an action's output set.
type outputFile struct {
	path string
	data []byte
}

// writeAll writes a set of outputs so that either all of them appear or none
// does: everything goes to .partial files first and is renamed only when all
// were written, and a failed rename removes the ones already in place.
func writeAll(files ...outputFile) (err error) {
	var partials, done []string
	defer func() {
		if err == nil {
			return
		}
		for _, p := range partials {
			os.Remove(p)
		}
		for _, p := range done {
			os.Remove(p)
		}
	}()
	for _, f := range files {
		if f.path == "" {
			return errors.New("output path is empty")
		}
		tmp := f.path + ".partial"
		partials = append(partials, tmp)
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			return err
		}
	}
	for i, f := range files {
		if err := os.Rename(partials[i], f.path); err != nil {
			return err
		}
		done = append(done, f.path)
	}
	return nil
}
