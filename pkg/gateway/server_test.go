package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
)

// A client pushes through the gateway without credentials: what the policy
// allows reaches the registry, what it denies gets 403 naming the rule.
func TestGatewayForwardsWhatThePolicyAllows(t *testing.T) {
	var sawAuth bool
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawAuth = true
		}
		inner.ServeHTTP(w, r)
	}))
	defer upstream.Close()
	host := strings.TrimPrefix(upstream.URL, "http://")
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(fmt.Sprintf(`{"version": 1, "rules": [
		{"action": "allow", "registry": %q, "repository": "team/**", "operations": ["*"]},
		{"action": "allow", "registry": %q, "repository": "**", "operations": ["blob:read", "manifest:read"]}
	]}`, host, host)), 0o644)
	p, err := LoadPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv := &Server{Log: log.New(&logs, "", 0)}
	srv.SetPolicy(p)
	gw := httptest.NewServer(srv)
	defer gw.Close()
	g, err := registry.ParseGateway(gw.URL)
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	blob := []byte("layer bytes")
	push := func(repo string) error {
		r, err := registry.Open(ctx, host, repo, registry.Options{Direction: registry.Push, Gateway: g})
		if err != nil {
			return err
		}
		d := oci.Digest(blob)
		return r.UploadBlob(ctx, nil, registry.Blob{Digest: d, Size: int64(len(blob)), Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(blob)), nil
		}}, nil)
	}
	if err := push("team/app"); err != nil {
		t.Fatalf("allowed push: %v\n%s", err, logs.String())
	}
	err = push("other/app")
	if err == nil || !strings.Contains(err.Error(), "policy denies blob:write on "+host+"/other/app") {
		t.Errorf("denied push: %v", err)
	}
	r, err := registry.Open(ctx, host, "team/app", registry.Options{Gateway: g})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := r.BlobExists(ctx, oci.Digest(blob)); !ok || err != nil {
		t.Errorf("the pushed blob through the gateway: %v %v", ok, err)
	}

	// Without the header, and with a path the gateway does not forward.
	for _, c := range []struct {
		method, path string
		header       bool
		status       int
	}{
		{http.MethodGet, "/v2/team/app/tags/list", false, http.StatusBadRequest},
		{http.MethodDelete, "/v2/team/app/manifests/latest", true, http.StatusForbidden},
		{http.MethodGet, "/v2/_catalog", true, http.StatusForbidden},
		{http.MethodGet, "/v2/", false, http.StatusOK},
		{http.MethodGet, "/v2/team/app/blobs/" + oci.Digest(blob), true, http.StatusOK},
	} {
		req, _ := http.NewRequest(c.method, gw.URL+c.path, nil)
		if c.header {
			req.Header.Set(registry.OriginalHostHeader, host)
		}
		// Meant for the gateway (were it to ask for one), never for the registry.
		req.Header.Set("Authorization", "Bearer client-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Errors []struct{ Message string } }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d %v, want %d", c.method, c.path, resp.StatusCode, body, c.status)
		}
	}
	if sawAuth {
		t.Error("the client's Authorization reached the registry")
	}
}
