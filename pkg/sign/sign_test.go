package sign

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/pkg/oci"
)

var subject = oci.Descriptor{MediaType: oci.MediaTypeManifest, Digest: oci.Digest([]byte("m")), Size: 1}

func layoutTar(t *testing.T, a Artifact) []byte {
	t.Helper()
	raw, blobs, err := a.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteLayout(&buf, raw, blobs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLayoutRoundTrip(t *testing.T) {
	a := Artifact{ArtifactType: "application/x-sig", Layers: []Blob{{MediaType: "application/x-sig", Data: []byte("sig")}}, Subject: subject}
	tarball := layoutTar(t, a)
	if !bytes.Equal(tarball, layoutTar(t, a)) {
		t.Error("the same artifact gave two tars")
	}
	img, err := ReadArtifact(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Manifests) != 1 || len(img.Manifests[0].Layers) != 1 || !strings.Contains(string(img.Manifests[0].Raw), subject.Digest) {
		t.Errorf("read back %+v", img)
	}
}

func TestReadArtifactRefuses(t *testing.T) {
	good := layoutTar(t, Artifact{Layers: []Blob{{MediaType: "a/b", Data: []byte("x")}}, Subject: subject})
	// Rewrite one entry of the good tar.
	rewrite := func(name string, body []byte) []byte {
		var out bytes.Buffer
		tw := tar.NewWriter(&out)
		tr := tar.NewReader(bytes.NewReader(good))
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			b := new(bytes.Buffer)
			b.ReadFrom(tr)
			data := b.Bytes()
			if h.Name == name {
				if body == nil {
					continue
				}
				data = body
			}
			h.Size = int64(len(data))
			tw.WriteHeader(h)
			tw.Write(data)
		}
		tw.Close()
		return out.Bytes()
	}
	blob := "blobs/sha256/" + strings.TrimPrefix(oci.Digest([]byte("x")), "sha256:")
	for _, c := range []struct {
		name string
		tar  []byte
		want string
	}{
		{"not a tar", []byte("hello"), "not a tar"},
		{"no index", rewrite("index.json", nil), "no OCI layout"},
		{"two manifests", rewrite("index.json", []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("0", 64)+`","size":1},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:`+strings.Repeat("1", 64)+`","size":1}]}`)), "lists 2 manifests"},
		{"missing blob", rewrite(blob, nil), "is missing"},
		{"changed blob", rewrite(blob, []byte("y")), "does not match"},
	} {
		if _, err := ReadArtifact(c.tar); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func plugin(t *testing.T, script string) Plugin {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plugin")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return Plugin{Config: "//:signer", Path: p, Env: map[string]string{"EXTRA": "1"}}
}

func TestPluginProtocol(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	os.WriteFile(good, layoutTar(t, Artifact{Layers: []Blob{{MediaType: "a/b", Data: []byte("sig")}}, Subject: subject}), 0o644)
	other := filepath.Join(dir, "other.tar")
	os.WriteFile(other, layoutTar(t, Artifact{Layers: []Blob{{MediaType: "a/b", Data: []byte("sig")}}, Subject: oci.Descriptor{MediaType: oci.MediaTypeManifest, Digest: oci.Digest([]byte("n")), Size: 1}}), 0o644)
	args := filepath.Join(dir, "args")
	// The verb and args come first, the descriptor on stdin, the environment added.
	p := plugin(t, `echo "$@ $EXTRA" > `+args+`; grep -q '"digest":"`+subject.Digest+`"' || exit 9; cat `+good)
	p.Args = []string{"--key", "k"}
	if _, err := p.Sign(context.Background(), subject); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != "sign-oci-artifact --key k 1" {
		t.Errorf("plugin ran with %q", b)
	}
	for _, c := range []struct{ script, want string }{
		{"exit 3", "exited with status 3 signing " + subject.Digest},
		{"echo not a tar", "answered no signature artifact"},
		{"cat " + other, "signed the wrong thing"},
	} {
		if _, err := plugin(t, c.script).Sign(context.Background(), subject); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "//:signer") {
			t.Errorf("%q: err = %v, want %q naming the signing_config", c.script, err, c.want)
		}
	}
}
