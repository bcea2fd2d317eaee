package tarball

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/imagetest"
	"github.com/rules-img/rules_img/pkg/oci"
)

type tarEntry struct {
	hdr  *tar.Header
	body []byte
}

func readTar(t *testing.T, b []byte) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{hdr, body})
	}
}

func archive(t *testing.T, m image.Manifest, tags ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(context.Background(), &b, m, tags); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWrite(t *testing.T) {
	gz := imagetest.GzipLayer(t, "hello", "hello world\n")
	zs := imagetest.ZstdLayer(t, "data/z.txt", strings.Repeat("zstd ", 100))
	// The gzip layer twice: the archive holds it once, manifest.json twice.
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, gz, zs, gz)
	b := archive(t, m, "hello:v1", "registry.example/app:dev", "docker.io/library/hello:v1")
	if !bytes.Equal(b, archive(t, m, "hello:v1", "registry.example/app:dev")) {
		t.Error("two archives of the same image differ")
	}

	entries := readTar(t, b)
	var names []string
	files := map[string][]byte{}
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		files[e.hdr.Name] = e.body
		if !e.hdr.ModTime.Equal(archiveEpoch) || e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s: header %+v is not fixed", e.hdr.Name, e.hdr)
		}
	}
	hexOfT := func(d string) string { return strings.TrimPrefix(d, "sha256:") }
	cfgPath := "blobs/sha256/" + hexOfT(m.ConfigDigest)
	gzPath := "blobs/sha256/" + hexOfT(oci.Digest(gz.Blob))
	// The zstd layer is stored decompressed, named by its diff ID.
	zsPath := "blobs/sha256/" + hexOfT(oci.Digest(zs.Tar))
	wantNames := []string{"manifest.json", "blobs/", "blobs/sha256/", cfgPath, gzPath, zsPath}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Errorf("entries\n got %q\nwant %q", names, wantNames)
	}
	if !bytes.Equal(files[cfgPath], m.Config) || !bytes.Equal(files[gzPath], gz.Blob) || !bytes.Equal(files[zsPath], zs.Tar) {
		t.Error("a blob's bytes differ from the image's")
	}

	var mj []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &mj); err != nil {
		t.Fatal(err)
	}
	if len(mj) != 1 || mj[0].Config != cfgPath ||
		strings.Join(mj[0].RepoTags, ",") != "docker.io/library/hello:v1,registry.example/app:dev" ||
		strings.Join(mj[0].Layers, ",") != strings.Join([]string{gzPath, zsPath, gzPath}, ",") {
		t.Errorf("manifest.json = %s", files["manifest.json"])
	}
}

func TestWriteDockerArchiveUntagged(t *testing.T) {
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "b"))
	files := map[string][]byte{}
	for _, e := range readTar(t, archive(t, m)) {
		files[e.hdr.Name] = e.body
	}
	if !strings.Contains(string(files["manifest.json"]), `"RepoTags":[]`) {
		t.Errorf("manifest.json = %s", files["manifest.json"])
	}
}

func TestWriteDockerArchiveErrors(t *testing.T) {
	m := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.GzipLayer(t, "a", "b"))
	if err := Write(context.Background(), io.Discard, m, []string{"Bad:Tag"}); err == nil {
		t.Error("an invalid tag was accepted")
	}
	// A source whose bytes do not match the digest must fail the archive.
	bad := m
	bad.Layers = append(bad.Layers[:0:0], m.Layers...)
	bad.Layers[0].Open = imagetest.BytesOpener(imagetest.GzipBytes(t, imagetest.LayerTar(t, "a", "other")))
	if err := Write(context.Background(), io.Discard, bad, nil); err == nil {
		t.Error("a layer with the wrong bytes was archived")
	}
	// A build output the opener only measured is hashed here: a tarball's
	// reader may not check it.
	good, err := m.Layers[0].Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	flipped, _ := io.ReadAll(good)
	flipped[len(flipped)/2] ^= 0xff
	bad.Layers[0].Open = func(context.Context) (io.ReadCloser, error) {
		return image.CheckLength(io.NopCloser(bytes.NewReader(flipped)), m.Layers[0].Digest, m.Layers[0].Size, "output"), nil
	}
	if err := Write(context.Background(), io.Discard, bad, nil); err == nil || !strings.Contains(err.Error(), "arrived with digest") {
		t.Errorf("a measured-only layer with one byte changed: %v", err)
	}
	zm := imagetest.Manifest(t, imagetest.LinuxAmd64, imagetest.ZstdLayer(t, "a", "b"))
	zm.Layers[0].DiffID = oci.Digest([]byte("not it"))
	if err := Write(context.Background(), io.Discard, zm, nil); err == nil || !strings.Contains(err.Error(), "diff ID") {
		t.Errorf("a zstd layer with the wrong diff ID: %v", err)
	}
	failing := m
	failing.Layers = append(failing.Layers[:0:0], m.Layers...)
	failing.Layers[0].Open = func(context.Context) (io.ReadCloser, error) { return nil, errors.New("cache miss") }
	if err := Write(context.Background(), io.Discard, failing, nil); err == nil || !strings.Contains(err.Error(), "cache miss") {
		t.Errorf("an opener's error: %v", err)
	}
}

// Several images in one tarball (container_bundle): one manifest.json
// entry each, a shared layer stored once.
func TestWriteImages(t *testing.T) {
	shared := imagetest.GzipLayer(t, "shared", "both images have this\n")
	a := imagetest.Manifest(t, imagetest.LinuxAmd64, shared, imagetest.GzipLayer(t, "a", "only a\n"))
	b := imagetest.Manifest(t, imagetest.LinuxAmd64, shared, imagetest.GzipLayer(t, "b", "only b\n"))
	var buf bytes.Buffer
	if err := WriteImages(context.Background(), &buf, []Image{{a, []string{"app/a:v1"}}, {b, []string{"app/b:v1"}}}); err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, buf.Bytes())
	var manifest []dockerManifestEntry
	if err := json.Unmarshal(entries[0].body, &manifest); err != nil || len(manifest) != 2 {
		t.Fatalf("manifest.json: %v %s", err, entries[0].body)
	}
	if manifest[0].RepoTags[0] != "docker.io/app/a:v1" || manifest[1].RepoTags[0] != "docker.io/app/b:v1" || manifest[0].Layers[0] != manifest[1].Layers[0] {
		t.Errorf("manifest.json: %+v", manifest)
	}
	seen := map[string]int{}
	for _, e := range entries {
		seen[e.hdr.Name]++
	}
	if seen[manifest[0].Layers[0]] != 1 || len(entries) != 1+2+2+3 {
		t.Errorf("the shared layer is stored %d times; %d entries, want manifest.json, 2 dirs, 2 configs, 3 layers", seen[manifest[0].Layers[0]], len(entries))
	}
}
