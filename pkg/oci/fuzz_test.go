package oci

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The oci readers take files that other tools or registries wrote. Each
// must refuse what it cannot use with an error, never panic, and what it
// accepts must hold up.

func fuzzFile(t *testing.T, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func FuzzReadLayerMetadata(f *testing.F) {
	f.Add([]byte(`{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:` + zeros + `", "size": 3, "diff_id": "sha256:` + zeros + `"}`))
	f.Add([]byte(`{"size": -1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadLayerMetadata(fuzzFile(t, "m.json", b))
		if err == nil && (m.Size <= 0 || m.Digest == "" || m.MediaType == "") {
			t.Fatalf("accepted incomplete metadata %+v", m)
		}
	})
}

func FuzzReadDescriptor(f *testing.F) {
	f.Add([]byte(`{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:` + zeros + `", "size": 10, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}`))
	f.Add([]byte(`{"digest": "sha256:XYZ", "size": 1, "mediaType": "x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ReadDescriptor(fuzzFile(t, "d.json", b))
		if err == nil && CheckDigest(d.Digest) != nil {
			t.Fatalf("accepted digest %q", d.Digest)
		}
	})
}

// FuzzImageConfig: a base image's config is a registry's JSON. Unknown
// fields are kept; writing what was read and reading it again is stable.
func FuzzImageConfig(f *testing.F) {
	f.Add([]byte(`{"architecture": "amd64", "os": "linux", "config": {"Env": ["A=1"], "Entrypoint": ["/app"], "ExposedPorts": {"80/tcp": {}}, "Healthcheck": {"Test": ["NONE"]}}, "rootfs": {"type": "layers", "diff_ids": []}, "x-extra": 1}`))
	f.Add([]byte(`{"config": null}`))
	f.Add([]byte(`{"config": {"Labels": {"a": "b"}, "Unknown": [1, 2]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c ImageConfig
		if json.Unmarshal(b, &c) != nil {
			return
		}
		once, err := json.Marshal(c)
		if err != nil {
			return
		}
		var again ImageConfig
		if err := json.Unmarshal(once, &again); err != nil {
			t.Fatalf("our own output does not read back: %v\n%s", err, once)
		}
		twice, err := json.Marshal(again)
		if err != nil || !bytes.Equal(once, twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
