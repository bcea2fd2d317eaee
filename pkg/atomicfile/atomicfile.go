// Package atomicfile writes files whole or not at all: the bytes go to
// PATH.partial first and are renamed into place only when every byte is
// written, so a failure or an interrupt never leaves a truncated file under
// the final name.
package atomicfile

import (
	"encoding/json"
	"io"
	"os"
)

// Suffix marks a file still being written.
const Suffix = ".partial"

// Write streams path's content from write. On failure the partial file is
// removed and path is left as it was.
func Write(path string, write func(io.Writer) error) error {
	tmp := path + Suffix
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// WriteJSON writes v as JSON to path.
func WriteJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return WriteBytes(path, b)
}

// WriteBytes writes b to path.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Set writes several files that appear together or not at all: each is
// staged as PATH.partial, and Commit renames them all. Call Abort (it is a
// no-op after a successful Commit) on every way out.
type Set struct {
	staged []string // final paths whose .partial exists
	done   bool
}

// Write stages path's content from write.
func (s *Set) Write(path string, write func(io.Writer) error) error {
	f, err := os.Create(path + Suffix)
	if err != nil {
		return err
	}
	s.staged = append(s.staged, path)
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteBytes stages b as path's content.
func (s *Set) WriteBytes(path string, b []byte) error {
	return s.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Commit renames every staged file into place. If one rename fails, the
// files already renamed are removed again.
func (s *Set) Commit() error {
	for i, p := range s.staged {
		if err := os.Rename(p+Suffix, p); err != nil {
			for _, q := range s.staged[:i] {
				os.Remove(q)
			}
			return err
		}
	}
	s.done = true
	return nil
}

// Abort removes the staged files unless Commit succeeded.
func (s *Set) Abort() {
	if s.done {
		return
	}
	for _, p := range s.staged {
		os.Remove(p + Suffix)
	}
}
