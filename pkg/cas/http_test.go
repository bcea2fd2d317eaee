package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// blobServer serves data at PREFIX/cas/<hex>; handle may answer first.
func blobServer(t *testing.T, prefix string, data []byte, handle func(w http.ResponseWriter, r *http.Request) bool) *httptest.Server {
	path := prefix + "/cas/" + strings.TrimPrefix(digestOf(data), "sha256:")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if handle != nil && handle(w, r) {
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPHitAndNotFound(t *testing.T) {
	data := []byte("hello layer")
	srv := blobServer(t, "/prefix", data, nil)
	s, err := Open(srv.URL+"/prefix/", Options{})
	if err != nil {
		t.Fatal(err)
	}
	readBlob(t, s, data)
	_, err = s.Open(context.Background(), digestOf([]byte("nope")), 4)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestHTTPRetry(t *testing.T) {
	data := []byte("retried")
	var calls atomic.Int32
	srv := blobServer(t, "", data, func(w http.ResponseWriter, r *http.Request) bool {
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	s, _ := Open(srv.URL, Options{})
	readBlob(t, s, data)
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}

	// A cache that keeps failing: give up after a few attempts.
	calls.Store(-100)
	_, err := s.Open(context.Background(), digestOf(data), int64(len(data)))
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("got %v, want a 503 error", err)
	}
	if n := calls.Load() + 100; n != maxAttempts {
		t.Errorf("%d requests, want %d", n, maxAttempts)
	}

	// Not transient: no retry.
	var forbidden atomic.Int32
	srv2 := blobServer(t, "", data, func(w http.ResponseWriter, r *http.Request) bool {
		forbidden.Add(1)
		http.Error(w, "no", http.StatusForbidden)
		return true
	})
	s2, _ := Open(srv2.URL, Options{})
	if _, err := s2.Open(context.Background(), digestOf(data), int64(len(data))); err == nil || forbidden.Load() != 1 {
		t.Errorf("403: err %v after %d requests, want an error after 1", err, forbidden.Load())
	}
}

func TestHTTPShortRead(t *testing.T) {
	data := []byte("0123456789")
	srv := blobServer(t, "", data, func(w http.ResponseWriter, r *http.Request) bool {
		w.Write(data[:4])
		w.(http.Flusher).Flush() // chunked: no Content-Length to catch it
		return true
	})
	s, _ := Open(srv.URL, Options{})
	rc, err := s.Open(context.Background(), digestOf(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want ErrUnexpectedEOF", err)
	}
	// A declared length that is not the size fails at Open.
	s, _ = Open(blobServer(t, "", data, nil).URL, Options{})
	if _, err := s.Open(context.Background(), digestOf(data), 3); err == nil {
		t.Error("Content-Length mismatch: no error")
	}
}

func TestHTTPBasicAuth(t *testing.T) {
	data := []byte("private")
	srv := blobServer(t, "", data, func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return true
		}
		return false
	})
	s, err := Open(strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.String(), "s3cret") || strings.Contains(s.String(), "alice") {
		t.Errorf("String() shows credentials: %s", s)
	}
	readBlob(t, s, data)
	_, err = s.Open(context.Background(), digestOf([]byte("x")), 1)
	if !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("got %v", err)
	}

	bad, _ := Open(strings.Replace(srv.URL, "http://", "http://alice:wrong@", 1), Options{})
	_, err = bad.Open(context.Background(), digestOf(data), int64(len(data)))
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v", err)
	}
}

// writeHelper writes a Bazel credential helper script that logs the request
// it got to dir/requests and prints out.
func writeHelper(t *testing.T, out string, exit int) (path, requests string) {
	dir := t.TempDir()
	path = filepath.Join(dir, "helper")
	requests = filepath.Join(dir, "requests")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = get ] || exit 2\ncat >> %q\necho >> %q\n", requests, requests)
	if exit != 0 {
		// A broken helper that prints its secret on failure.
		script += fmt.Sprintf("echo 'user:TOPSECRET' >&2\necho 'TOPSECRET'\nexit %d\n", exit)
	} else {
		script += "cat <<'JSON'\n" + out + "\nJSON\n"
	}
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, requests
}

func TestHTTPCredentialHelper(t *testing.T) {
	data := []byte("with token")
	srv := blobServer(t, "/p", data, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer tok" || strings.Join(r.Header.Values("X-Multi"), ",") != "a,b" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return true
		}
		return false
	})
	helper, requests := writeHelper(t, `{"headers":{"Authorization":["Bearer tok"],"X-Multi":["a","b"]},"expires":"2999-01-01T00:00:00Z"}`, 0)
	s, err := Open(srv.URL+"/p", Options{CredentialHelper: helper})
	if err != nil {
		t.Fatal(err)
	}
	readBlob(t, s, data)
	readBlob(t, s, data)
	log, _ := os.ReadFile(requests)
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 1 {
		t.Fatalf("helper ran %d times, want 1 (cached): %q", len(lines), log)
	}
	want := fmt.Sprintf(`{"uri":"%s/p/cas/%s"}`, srv.URL, strings.TrimPrefix(digestOf(data), "sha256:"))
	if lines[0] != want {
		t.Errorf("helper got %s, want %s", lines[0], want)
	}

	// Expired headers are fetched again.
	helper2, requests2 := writeHelper(t, `{"headers":{"Authorization":["Bearer tok"],"X-Multi":["a","b"]},"expires":"2000-01-01T00:00:00Z"}`, 0)
	s2, _ := Open(srv.URL+"/p", Options{CredentialHelper: helper2})
	readBlob(t, s2, data)
	readBlob(t, s2, data)
	if log, _ := os.ReadFile(requests2); strings.Count(string(log), "uri") != 2 {
		t.Errorf("expired: helper ran %d times, want 2", strings.Count(string(log), "uri"))
	}
}

func TestCredentialHelperFails(t *testing.T) {
	srv := blobServer(t, "", []byte("x"), nil)
	helper, _ := writeHelper(t, "", 3)
	s, err := Open(srv.URL, Options{CredentialHelper: helper})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(context.Background(), digestOf([]byte("x")), 1)
	if err == nil || !strings.Contains(err.Error(), helper) || !strings.Contains(err.Error(), "exit status 3") || strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("got %v", err)
	}
	if errors.Is(err, ErrNotFound) {
		t.Error("helper failure reads as not found")
	}

	garbled, _ := writeHelper(t, `not json SECRET`, 0)
	s, _ = Open(srv.URL, Options{CredentialHelper: garbled})
	_, err = s.Open(context.Background(), digestOf([]byte("x")), 1)
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("garbled output: %v", err)
	}
}
