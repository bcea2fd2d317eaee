//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rules-img/rules_img/e2e/harness"
	"github.com/rules-img/rules_img/pkg/cas"
)

// TestCASRegistryUnderAttack probes img registry on buildbox-casd as an
// attacker and a buggy client would (issue 29's findings), through a cache
// gateway that wants a token: the registry reaches it with a Bazel
// credential helper, and its blob cache endpoint wants a token of its own.
// Each subtest failed before its fix.
func TestCASRegistryUnderAttack(t *testing.T) {
	const cacheToken, blobcacheToken = "cache-tok-5d1e", "blobcache-tok-77a0"
	casd, err := harness.StartCasd(harness.CasdOptions{Token: cacheToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(casd.Stop)
	dir := t.TempDir()
	helper := filepath.Join(dir, "cache-helper")
	writeExecutable(t, helper, "#!/bin/sh\ncat >/dev/null\necho '{\"headers\":{\"Authorization\":[\"Bearer "+cacheToken+"\"]}}'\n")
	tokenFile := filepath.Join(dir, "blobcache.token")
	if err := os.WriteFile(tokenFile, []byte(blobcacheToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const maxUpload = 4 << 20
	reg, err := harness.StartCASRegistry("grpc://"+casd.Addr(), "",
		"--credential-helper", helper, "--blobcache-token-file", tokenFile,
		"--max-upload-size", fmt.Sprint(maxUpload), "--upload-expiry", "2s", "--idle-timeout", "2s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	c := &rawClient{t: t, base: "http://" + reg.Addr(), dataDir: reg.DataDir()}

	// The victim: an image pushed as any client pushes (HEAD, upload,
	// manifest), whose layer other repositories and Bazel share.
	victim := "e2e/victim:v1"
	img, err := random.Image(300_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a push through a cache that wants auth", func(t *testing.T) {
		// HEAD and the manifest's presence check are FindMissingBlobs, a
		// unary call: before the fix it went without the helper's headers.
		ref, _ := name.ParseReference(reg.Addr()+"/"+victim, name.Insecure)
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push: %v\n%s", err, reg.Log())
		}
		mount := reg.Addr() + "/e2e/other:v1"
		if _, err := harness.Crane("copy", reg.Addr()+"/"+victim, mount); err != nil {
			t.Fatal(err)
		}
		if err := harness.VerifyImage(mount); err != nil {
			t.Fatal(err)
		}
		if n := casd.Unauthenticated(); n != 0 {
			t.Errorf("%d calls reached the cache without the helper's token", n)
		}
	})

	layers, _ := img.Layers()
	layer := layers[0]
	ld, _ := layer.Digest()
	lsize, _ := layer.Size()
	cfgName, _ := img.ConfigName()
	cfgSize := int64(len(must(img.RawConfigFile())))
	// A blob Bazel put in the cache that no one has pushed here yet.
	orphan := bytes.Repeat([]byte("bazel output "), 1000)
	orphanDigest := sha(orphan)
	direct, err := cas.OpenREAPI("grpc://"+casd.Direct(), cas.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.Write(context.Background(), orphanDigest, int64(len(orphan)), bytes.NewReader(orphan)); err != nil {
		t.Fatal(err)
	}

	t.Run("a wrong size deletes nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name, digest string
			size         int64
			want         string
		}{
			{"a shared layer, too long", ld.String(), lsize + 4096, "SIZE_INVALID"},
			{"a blob only Bazel stored", orphanDigest, int64(len(orphan)) + 4096, "MANIFEST_BLOB_UNKNOWN"},
		} {
			m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
				`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
				`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
				cfgName, cfgSize, tc.digest, tc.size)
			code, body := c.do("PUT", "/v2/e2e/attacker/manifests/x", "application/vnd.oci.image.manifest.v1+json", m)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Errorf("%s: manifest PUT got %d %s, want 400 %s", tc.name, code, body, tc.want)
			}
			code, _ = c.do("GET", "/v2/e2e/attacker/blobs/"+tc.digest, "", "")
			if tc.digest == orphanDigest && code != http.StatusNotFound {
				t.Errorf("%s: GET from the attacker's repository got %d, want 404", tc.name, code)
			}
		}
		// The blob cache endpoint: without the token nothing; with it, a
		// size that contradicts the layer's bytes is refused.
		noToken, _ := cas.OpenREAPI(reg.BlobCache(), cas.Options{})
		_, err := noToken.Missing(context.Background(), []cas.Blob{{Digest: ld.String(), Size: lsize + 4096}})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "IMG_BLOB_CACHE_TOKEN_FILE") {
			t.Errorf("FindMissingBlobs without the token: %v", err)
		}
		withToken, _ := cas.OpenREAPI(reg.BlobCache(), cas.Options{Headers: map[string]string{"authorization": "Bearer " + blobcacheToken}})
		_, err = withToken.Missing(context.Background(), []cas.Blob{{Digest: ld.String(), Size: lsize + 4096}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("FindMissingBlobs with a wrong size: %v", err)
		}
		if err := harness.VerifyImage(reg.Addr() + "/" + victim); err != nil {
			t.Errorf("the victim image after the attacks: %v", err)
		}
		for d, n := range map[string]int64{ld.String(): lsize, orphanDigest: int64(len(orphan))} {
			if ok, err := casd.HasBlob(d, n); !ok || err != nil {
				t.Errorf("casd lost %s (%v)", d, err)
			}
		}
	})

	t.Run("uploads are bounded", func(t *testing.T) {
		id := c.startUpload("e2e/big")
		code, body := c.do("PATCH", id, "", strings.Repeat("x", maxUpload+1))
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "--max-upload-size") {
			t.Errorf("an upload over the limit got %d %s", code, body)
		}
		if n := c.uploadLength(id); n != 0 {
			t.Errorf("the refused chunk left %d bytes in the session", n)
		}
		// A body trickled a byte at a time is cut off once it has brought
		// less than 64 KiB in the 2 s idle timeout, and leaves nothing.
		pr, pw := io.Pipe()
		done := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("PATCH", c.base+id, pr)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		var code2 int
	trickle:
		for i := 0; i < 100; i++ { // 100 bytes in 10 s, unless cut off
			select {
			case code2 = <-done:
				break trickle
			case <-time.After(100 * time.Millisecond):
				if _, err := pw.Write([]byte("x")); err != nil {
					code2 = <-done
					break trickle
				}
			}
		}
		pw.Close()
		if code2 == 0 {
			code2 = <-done
		}
		if code2 == http.StatusAccepted {
			t.Errorf("a trickled body was accepted")
		}
		if n := c.uploadLength(id); n > 0 {
			t.Errorf("the trickled chunk left %d bytes in the session", n)
		}
		// Abandoned sessions go after 2 s unused.
		var ids []string
		for range 50 {
			ids = append(ids, c.startUpload("e2e/abandoned"))
		}
		time.Sleep(4 * time.Second)
		for _, id := range ids {
			if code, _ := c.do("GET", id, "", ""); code != http.StatusNotFound {
				t.Fatalf("session %s still there after 4 s: %d", id, code)
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(reg.DataDir(), "uploads")); len(ents) != 0 {
			t.Errorf("%d files left in uploads/", len(ents))
		}
	})

	t.Run("chunks come in order, one at a time", func(t *testing.T) {
		id := c.startUpload("e2e/chunks")
		if code, body := c.doH("PATCH", id, map[string]string{"Content-Range": "0-9"}, "0123456789"); code != http.StatusAccepted {
			t.Fatalf("first chunk: %d %s", code, body)
		}
		if code, _ := c.doH("PATCH", id, map[string]string{"Content-Range": "20-29"}, "abcdefghij"); code != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("a chunk past the end got %d, want 416", code)
		}
		if code, _ := c.doH("PATCH", id, map[string]string{"Content-Range": "5-14"}, "abcdefghij"); code != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("an overlapping chunk got %d, want 416", code)
		}
		// A second request while the first is still sending its body.
		pr, pw := io.Pipe()
		first := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("PATCH", c.base+id, pr)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				first <- 0
				return
			}
			resp.Body.Close()
			first <- resp.StatusCode
		}()
		pw.Write([]byte("ABCDE"))
		waitFor(t, func() bool { return c.sessionFileSize(id) >= 15 })
		if code, _ := c.do("PATCH", id, "", "zzzzz"); code != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("a concurrent chunk got %d, want 416", code)
		}
		pw.Write([]byte("FGHIJ"))
		pw.Close()
		if code := <-first; code != http.StatusAccepted {
			t.Errorf("the first request got %d", code)
		}
		data := []byte("0123456789ABCDEFGHIJ")
		if code, body := c.do("PUT", id+"?digest="+sha(data), "", ""); code != http.StatusCreated {
			t.Errorf("finishing the upload: %d %s", code, body)
		}
	})

	t.Run("an index names manifests of its own repository", func(t *testing.T) {
		raw, digest, err := harness.RawManifest(reg.Addr(), "e2e/victim", "v1")
		if err != nil {
			t.Fatal(err)
		}
		index := func(size int) string {
			return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
				`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"platform":{"os":"linux","architecture":"amd64"}}]}`, digest, size)
		}
		const ct = "application/vnd.oci.image.index.v1+json"
		if code, body := c.do("PUT", "/v2/e2e/elsewhere/manifests/idx", ct, index(len(raw))); code != http.StatusBadRequest || !strings.Contains(body, "MANIFEST_BLOB_UNKNOWN") {
			t.Errorf("an index naming another repository's manifest got %d %s", code, body)
		}
		if code, body := c.do("PUT", "/v2/e2e/victim/manifests/idx", ct, index(len(raw)+1)); code != http.StatusBadRequest || !strings.Contains(body, "SIZE_INVALID") {
			t.Errorf("an index with a wrong child size got %d %s", code, body)
		}
		if code, body := c.do("PUT", "/v2/e2e/victim/manifests/idx", ct, index(len(raw))); code != http.StatusCreated {
			t.Errorf("a good index got %d %s", code, body)
		}
	})

	t.Run("the body says what a manifest is", func(t *testing.T) {
		raw, _, err := harness.RawManifest(reg.Addr(), "e2e/victim", "v1")
		if err != nil {
			t.Fatal(err)
		}
		if code, body := c.do("PUT", "/v2/e2e/kinds/manifests/as-index", "application/vnd.oci.image.index.v1+json", string(raw)); code != http.StatusBadRequest || !strings.Contains(body, "Content-Type") {
			t.Errorf("an image manifest PUT as an index got %d %s", code, body)
		}
		dup := strings.Replace(string(raw), `"schemaVersion":2`, `"schemaVersion":2,"schemaVersion":2`, 1)
		if dup == string(raw) {
			t.Fatalf("no schemaVersion in %s", raw)
		}
		if code, body := c.do("PUT", "/v2/e2e/kinds/manifests/dup", "", dup); code != http.StatusBadRequest || !strings.Contains(body, "twice") {
			t.Errorf("a manifest with a duplicate key got %d %s", code, body)
		}
	})

	t.Run("names too long for a file system", func(t *testing.T) {
		before := countDirs(t, filepath.Join(reg.DataDir(), "repos"))
		raw, _, _ := harness.RawManifest(reg.Addr(), "e2e/victim", "v1")
		for _, repo := range []string{strings.Repeat("a", 300) + "/x", strings.Repeat("a/", 2000) + "a"} {
			code, body := c.do("PUT", "/v2/"+repo+"/manifests/v1", "", string(raw))
			if code != http.StatusBadRequest || !strings.Contains(body, "NAME_INVALID") {
				t.Errorf("a %d-character name got %d %.200s", len(repo), code, body)
			}
		}
		if after := countDirs(t, filepath.Join(reg.DataDir(), "repos")); after != before {
			t.Errorf("%d directories left behind", after-before)
		}
	})

	t.Run("SIGTERM lets an upload in flight finish", func(t *testing.T) {
		id := c.startUpload("e2e/drain")
		data := bytes.Repeat([]byte("drain"), 200_000)
		pr, pw := io.Pipe()
		got := make(chan string, 1)
		go func() {
			req, _ := http.NewRequest("PUT", c.base+id+"?digest="+sha(data), pr)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				got <- err.Error()
				return
			}
			resp.Body.Close()
			got <- resp.Status
		}()
		pw.Write(data[:len(data)/2])
		waitFor(t, func() bool { return c.sessionFileSize(id) > 0 })
		exited := reg.Terminate()
		time.Sleep(500 * time.Millisecond) // longer than the old exit took
		pw.Write(data[len(data)/2:])
		pw.Close()
		if s := <-got; !strings.HasPrefix(s, "201") {
			t.Errorf("the upload in flight at SIGTERM got %s\n%s", s, reg.Log())
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("the registry did not exit after its drain")
		}
		if !strings.Contains(reg.Log(), "stopped") {
			t.Errorf("no drain in the log:\n%s", reg.Log())
		}
		if err := reg.Restart(); err != nil {
			t.Fatal(err)
		}
		if code, _ := c.do("HEAD", "/v2/e2e/drain/blobs/"+sha(data), "", ""); code != http.StatusOK {
			t.Errorf("the drained upload is not there after a restart: %d", code)
		}
	})

	t.Run("no response shows the data directory", func(t *testing.T) {
		if c.leaked != "" {
			t.Errorf("a response named the data directory: %s", c.leaked)
		}
	})
}

// rawClient sends requests the way no well-behaved client would, and
// watches every response for the registry's data directory.
type rawClient struct {
	t             *testing.T
	base, dataDir string
	mu            sync.Mutex
	leaked        string
}

func (c *rawClient) do(method, path, contentType, body string) (int, string) {
	h := map[string]string{}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	return c.doH(method, path, h, body)
}

func (c *rawClient) doH(method, path string, headers map[string]string, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), c.dataDir) {
		c.mu.Lock()
		c.leaked = fmt.Sprintf("%s %s: %s", method, path, b)
		c.mu.Unlock()
	}
	return resp.StatusCode, string(b)
}

// startUpload opens an upload session in repo and returns its path.
func (c *rawClient) startUpload(repo string) string {
	c.t.Helper()
	resp, err := http.Post(c.base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("starting an upload: %s", resp.Status)
	}
	return resp.Header.Get("Location")
}

// uploadLength is what the registry says a session holds.
func (c *rawClient) uploadLength(id string) int64 {
	c.t.Helper()
	resp, err := http.Get(c.base + id)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	var from, to int64
	fmt.Sscanf(resp.Header.Get("Range"), "%d-%d", &from, &to)
	if to == 0 {
		return 0
	}
	return to + 1
}

// sessionFileSize reads the session's file, which grows while a body
// streams in (the API answers only when it is done).
func (c *rawClient) sessionFileSize(id string) int64 {
	fi, err := os.Stat(filepath.Join(c.dataDir, "uploads", filepath.Base(id)))
	if err != nil {
		return 0
	}
	return fi.Size()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countDirs(t *testing.T, root string) int {
	n := 0
	filepath.WalkDir(root, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func writeExecutable(t *testing.T, path, script string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
