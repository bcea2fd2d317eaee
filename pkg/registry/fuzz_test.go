package registry

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
)

// FuzzErrorBody: a registry's error answer, from JSON errors to an HTML
// page. What we print of it is one short, printable line.
func FuzzErrorBody(f *testing.F) {
	f.Add(500, []byte(`{"errors": [{"code": "UNKNOWN", "message": "boom", "detail": {"a": 1}}]}`))
	f.Add(401, []byte(`{"errors": [{"code": "UNAUTHORIZED", "message": "line1\nline2\x1b[2J"}]}`))
	f.Add(404, []byte(`<!DOCTYPE html><html><title>404</title></html>`))
	f.Add(400, []byte(`{"errors": [{"code": "A"}, {"code": "B"}, {"code": "C"}, {"code": "D"}, {"code": "E"}]}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{},
			Request: &http.Request{Method: "GET", URL: mustURL("http://r.example/v2/")}}
		err := transport.CheckError(resp, http.StatusOK)
		te, ok := err.(*transport.Error)
		if !ok {
			return
		}
		d := regerr.Diagnostics(te)
		if len(d) > 3*(40+2+200+3)+40 {
			t.Fatalf("%d bytes of diagnostics", len(d))
		}
		for _, r := range d {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Fatalf("unprintable %q in %q", r, d)
			}
		}
		reg, _ := name.NewRegistry("r.example")
		r := &Repo{reg: reg, repo: reg.Repo("x"), keychain: anonymous{}, policy: PullPolicy, label: "r.example/x@sha256:00"}
		msg := r.Explain(err, "").Error()
		if strings.ContainsAny(msg, "\n\r\x1b") {
			t.Fatalf("explanation is not one line: %q", msg)
		}
	})
}

// FuzzAuthChallenge: the registry's WWW-Authenticate challenge and its token
// endpoint's answer drive the handshake. Every connection goes to a
// loopback server, whatever host the challenge names.
func FuzzAuthChallenge(f *testing.F) {
	f.Add(`Bearer realm="http://auth.example/token",service="r.example",scope="repository:x:pull"`, []byte(`{"token": "t"}`))
	f.Add(`Basic realm="r"`, []byte(``))
	f.Add(`Bearer realm=",,,",service`, []byte(`{"access_token": 5}`))
	f.Add(`Bearer realm="http://[::1"`, []byte(`<html>`))
	var challenge, token atomicValue
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/") && r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", challenge.get())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v2/") {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Write([]byte(token.get()))
	}))
	defer srv.Close()
	old := BaseTransport
	defer func() { BaseTransport = old }()
	BaseTransport = func() *http.Transport {
		return &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", srv.Listener.Addr().String())
		}}
	}
	f.Fuzz(func(t *testing.T, ch string, tok []byte) {
		if strings.ContainsAny(ch, "\r\n\x00") {
			return // not a header net/http would send
		}
		challenge.set(ch)
		token.set(string(tok))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Open(ctx, "127.0.0.1:1", "x", Options{})
		if err != nil && strings.ContainsAny(err.Error(), "\n\x1b") {
			t.Fatalf("handshake error is not one line: %q", err)
		}
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// atomicValue hands a fuzz input to the server's goroutines.
type atomicValue struct{ v atomic.Value }

func (a *atomicValue) set(s string) { a.v.Store(s) }
func (a *atomicValue) get() string {
	s, _ := a.v.Load().(string)
	return s
}
