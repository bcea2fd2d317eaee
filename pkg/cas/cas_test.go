package cas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func init() { backoffBase = time.Millisecond }

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func readBlob(t *testing.T, s Store, data []byte) {
	t.Helper()
	rc, err := s.Open(context.Background(), digestOf(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != string(data) {
		t.Fatalf("got %q, want %q", got, data)
	}
}

func TestOpenEndpoints(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ endpoint, want string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://u:secret@cache.example.com/prefix/", "https://cache.example.com/prefix"},
		{"grpc://127.0.0.1:9092", "grpc://127.0.0.1:9092"},
		{"grpcs://cache.example.com:443", "grpcs://cache.example.com:443"},
		{"cache.example.com:443", "grpcs://cache.example.com:443"},
		{"unix:///run/cache.sock", "unix:///run/cache.sock"},
		{"file://" + dir, dir},
		{dir + "/", dir},
	} {
		s, err := Open(tc.endpoint, Options{})
		if err != nil {
			t.Errorf("Open(%q): %v", tc.endpoint, err)
			continue
		}
		if s.String() != tc.want {
			t.Errorf("Open(%q).String() = %q, want %q", tc.endpoint, s.String(), tc.want)
		}
	}
	for _, endpoint := range []string{
		"", "cache", "relative/dir", "ftp://u:secret@host/x", "grpc://host:1/path",
		"unix://relative.sock", "http:///nohost", "file://" + filepath.Join(dir, "missing"),
		"host:notaport",
	} {
		_, err := Open(endpoint, Options{})
		if err == nil {
			t.Errorf("Open(%q): no error", endpoint)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", endpoint, err)
		}
	}
	if _, err := Open("ftp://x", Options{}); err == nil || !strings.Contains(err.Error(), "grpcs://") {
		t.Errorf("error does not list the accepted forms: %v", err)
	}
	if _, err := Open(dir, Options{CredentialHelper: filepath.Join(dir, "nohelper")}); err == nil {
		t.Error("missing credential helper: no error")
	}
}

func TestDiskCache(t *testing.T) {
	dir := t.TempDir()
	data := []byte("layer bytes")
	d := digestOf(data)
	hexd := strings.TrimPrefix(d, "sha256:")
	if err := os.MkdirAll(filepath.Join(dir, "cas", hexd[:2]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cas", hexd[:2], hexd), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, endpoint := range []string{dir, "file://" + dir} {
		s, err := Open(endpoint, Options{})
		if err != nil {
			t.Fatal(err)
		}
		readBlob(t, s, data)
	}
	s, _ := Open(dir, Options{})
	if _, err := s.Open(context.Background(), digestOf([]byte("other")), 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v, want ErrNotFound", err)
	}
	// A file shorter than the size asked for is an error, not a clean EOF.
	rc, err := s.Open(context.Background(), d, int64(len(data))+1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short read: %v, want ErrUnexpectedEOF", err)
	}
	rc.Close()
	if _, err := s.Open(context.Background(), "sha256:xyz", 1); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("bad digest: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"grpcs://user:pw@cache.example:443":  "grpcs://cache.example:443",
		"https://token@cache.example/prefix": "https://cache.example/prefix",
		"grpc://cache.example:8980":          "grpc://cache.example:8980",
		"/var/cache/bazel-disk":              "/var/cache/bazel-disk",
		"grpc://us%zz:pw@host:1":             "grpc://host:1",
	} {
		if got := Redact(in); got != want || strings.Contains(got, "pw") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
