package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("file holds %q, want the old content", b)
	}
	if _, err := os.Stat(p + Suffix); !os.IsNotExist(err) {
		t.Errorf("partial file left behind: %v", err)
	}
	if err := WriteBytes(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("file holds %q, want new", b)
	}
}

func TestSetAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "sub", "b")
	var s Set
	if err := s.WriteBytes(a, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBytes(b, []byte("b")); err == nil {
		t.Fatal("writing into a missing directory worked")
	}
	s.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("abort left %v", entries)
	}

	// A rename that fails (the target is a non-empty directory) undoes
	// the renames before it.
	if err := os.MkdirAll(filepath.Join(b, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = Set{}
	for _, p := range []string{a, b} {
		if err := s.WriteBytes(p, []byte("data")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(); err == nil {
		t.Fatal("commit over a directory worked")
	}
	s.Abort()
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("a stayed after the failed commit: %v", err)
	}

	s = Set{}
	if err := s.WriteBytes(a, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Abort()
	if got, _ := os.ReadFile(a); string(got) != "a" {
		t.Errorf("a holds %q after commit and abort", got)
	}
}
