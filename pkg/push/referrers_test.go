package push

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
	"github.com/rules-img/rules_img/pkg/sign"
)

// referrer is a one-layer artifact whose subject is subject.
func referrer(t *testing.T, subject image.Manifest, doc string) *image.Image {
	t.Helper()
	raw, blobs, err := sign.Artifact{
		ArtifactType: "application/spdx+json",
		Layers:       []sign.Blob{{MediaType: "application/spdx+json", Data: []byte(doc)}},
		Subject:      oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: int64(len(subject.Raw))},
	}.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m := image.Manifest{Raw: raw, Digest: oci.Digest(raw), MediaType: oci.MediaTypeManifest, Config: blobs[0], ConfigDigest: oci.Digest(blobs[0]), ConfigMediaType: oci.MediaTypeEmpty}
	l := bytesLayer(blobs[1], nil)
	l.MediaType = "application/spdx+json"
	m.Layers = []image.Layer{l}
	return &image.Image{Manifests: []image.Manifest{m}}
}

func fallbackIndex(t *testing.T, tr *testReg, repo, subject string) oci.Index {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, tr.srv.URL+"/v2/"+repo+"/manifests/"+registry.FallbackTag(subject), nil)
	req.Header.Set("Accept", string(oci.MediaTypeIndex))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx oci.Index
	if resp.StatusCode == http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &idx)
	}
	return idx
}

// Without a Referrers API, referrers pushed side by side all end up in the
// subject's fallback tag, once each, however often they are pushed again.
func TestReferrersFallbackTag(t *testing.T) {
	tr := newTestReg(t)
	img := makeManifest(t, amd64, bytesLayer(testBlob(1, 100), nil))
	if _, err := Push(context.Background(), &image.Image{Manifests: []image.Manifest{img}}, Options{Registry: tr.host, Repository: "team/app"}); err != nil {
		t.Fatal(err)
	}
	var refs []*image.Image
	for _, doc := range []string{"one", "two", "three", "four"} {
		refs = append(refs, referrer(t, img, doc))
	}
	for round := 0; round < 2; round++ {
		var wg sync.WaitGroup
		errs := make([]error, len(refs))
		for i, r := range refs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = Push(context.Background(), r, Options{Registry: tr.host, Repository: "team/app"})
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		idx := fallbackIndex(t, tr, "team/app", img.Digest)
		if len(idx.Manifests) != len(refs) {
			t.Fatalf("round %d: the fallback tag lists %d referrers, want %d", round, len(idx.Manifests), len(refs))
		}
		for _, d := range idx.Manifests {
			if d.ArtifactType != "application/spdx+json" {
				t.Errorf("referrer %s listed with artifactType %q", d.Digest, d.ArtifactType)
			}
		}
	}
}

// A referrer the registry already holds is still added to a fallback tag
// that lost it (a push interrupted between the two).
func TestReferrerRepushRepairsFallback(t *testing.T) {
	tr := newTestReg(t)
	img := makeManifest(t, amd64, bytesLayer(testBlob(2, 100), nil))
	r := referrer(t, img, "doc")
	if _, err := Push(context.Background(), r, Options{Registry: tr.host, Repository: "team/app"}); err != nil {
		t.Fatal(err)
	}
	// Another client overwrites the tag with an index that lacks it.
	empty := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
	req, _ := http.NewRequest(http.MethodPut, tr.srv.URL+"/v2/team/app/manifests/"+registry.FallbackTag(img.Digest), strings.NewReader(empty))
	req.Header.Set("Content-Type", string(oci.MediaTypeIndex))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("overwriting the tag: %v %v", err, resp)
	}
	if _, err := Push(context.Background(), r, Options{Registry: tr.host, Repository: "team/app"}); err != nil {
		t.Fatal(err)
	}
	if idx := fallbackIndex(t, tr, "team/app", img.Digest); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != r.RootDigest() {
		t.Errorf("after the repush the tag lists %+v", idx.Manifests)
	}
}

// A tag that is not an index is no fallback: it is left alone, and the
// push fails saying so.
func TestReferrerFallbackTagTaken(t *testing.T) {
	tr := newTestReg(t)
	img := makeManifest(t, amd64, bytesLayer(testBlob(3, 100), nil))
	other := makeManifest(t, amd64, bytesLayer(testBlob(4, 100), nil))
	if _, err := Push(context.Background(), &image.Image{Manifests: []image.Manifest{other}}, Options{Registry: tr.host, Repository: "team/app", Tags: []string{registry.FallbackTag(img.Digest)}}); err != nil {
		t.Fatal(err)
	}
	_, err := Push(context.Background(), referrer(t, img, "doc"), Options{Registry: tr.host, Repository: "team/app"})
	if err == nil || !strings.Contains(err.Error(), "is not an OCI index") {
		t.Fatalf("err = %v, want the tag named as not a fallback index", err)
	}
}
