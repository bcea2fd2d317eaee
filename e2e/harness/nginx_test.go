package harness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNginxCache(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx is not installed; run tools/setup.sh")
	}
	n, err := StartNginxCache()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()

	blob := bytes.Repeat([]byte("rules_img "), 200_000) // 2 MB, above nginx's default body limit
	sum := sha256.Sum256(blob)
	hexDigest := hex.EncodeToString(sum[:])
	do := func(method, path string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, n.URL()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, got
	}

	if n.Has("sha256:" + hexDigest) {
		t.Fatal("Has before PUT")
	}
	if code, _ := do(http.MethodPut, "/cas/"+hexDigest, blob); code/100 != 2 {
		t.Fatalf("PUT /cas: %d\n%s", code, n.Log())
	}
	if code, got := do(http.MethodGet, "/cas/"+hexDigest, nil); code != 200 || !bytes.Equal(got, blob) {
		t.Fatalf("GET /cas: %d, %d bytes", code, len(got))
	}
	if !n.Has("sha256:"+hexDigest) || !n.Has(hexDigest) {
		t.Error("Has after PUT is false")
	}
	if b, err := os.ReadFile(filepath.Join(n.Dir(), "cas", hexDigest)); err != nil || !bytes.Equal(b, blob) {
		t.Errorf("blob file: %v", err)
	}
	// Action results go to ac/, and paths are created as needed.
	if code, _ := do(http.MethodPut, "/ac/"+strings.Repeat("a", 64), []byte("result")); code/100 != 2 {
		t.Fatalf("PUT /ac: %d", code)
	}
	if code, got := do(http.MethodGet, "/ac/"+strings.Repeat("a", 64), nil); code != 200 || string(got) != "result" {
		t.Errorf("GET /ac: %d %q", code, got)
	}
	n.Delete("sha256:" + hexDigest)
	if n.Has(hexDigest) {
		t.Error("Has after Delete")
	}
	if code, _ := do(http.MethodGet, "/cas/"+hexDigest, nil); code != 404 {
		t.Errorf("GET after Delete: %d, want 404", code)
	}
	dir := n.top
	n.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s not removed: %v", dir, err)
	}
}
