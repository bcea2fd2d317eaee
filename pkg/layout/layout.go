// Package layout writes OCI image layout directories from an image's blobs,
// checking that everything the root descriptor reaches is there and intact;
// base layers pulled shallowly are fetched into it.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/rules-img/rules_img/pkg/oci"
)

// Files names the inputs and output of `img layout`.
type Files struct {
	Root    string   // descriptor file of the top manifest or index
	Blobs   []string // every blob of the image, in any order
	Out     string   // layout directory: absent or empty
	RefName string   // optional org.opencontainers.image.ref.name
	// RemoteLayers are layer metadata files (with a source) of layers whose
	// blobs are not local, e.g. of a shallow-pulled base image. Those the
	// image references are fetched with Fetch.
	RemoteLayers []string
	Fetch        BlobFetcher
}

// BlobFetcher downloads the blob of a layer with a Source to dst. It must
// verify digest and size, and dst must appear only when complete. It is a
// callback so that this package needs no registry client.
type BlobFetcher func(layer oci.LayerMetadata, dst string) error

// WriteLayout reads the root descriptor and remote layer files and builds
// the layout.
func Write(f Files) error {
	root, err := oci.ReadDescriptor(f.Root)
	if err != nil {
		return err
	}
	remote := map[string]remoteBlob{}
	for _, p := range f.RemoteLayers {
		m, err := oci.ReadLayerMetadata(p)
		if err != nil {
			return err
		}
		if err := oci.CheckDigest(m.Digest); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if m.Source == nil || m.Source.Registry == "" || m.Source.Repository == "" {
			return fmt.Errorf("%s: remote layer metadata has no source registry and repository", p)
		}
		remote[m.Digest] = remoteBlob{meta: m, path: p}
	}
	if len(remote) > 0 && f.Fetch == nil {
		return errors.New("remote layers given, but no way to fetch them")
	}
	return writeTree(root, f.Blobs, remote, f.Fetch, f.Out, f.RefName)
}

// BuildLayout writes an OCI image layout to dir: the blob files stored by
// their sha256, then a check that every blob reachable from root is there
// with the referenced size, then oci-layout and index.json. dir may exist
// but must be empty (Bazel creates tree artifacts' directories); on failure
// everything written is removed. Blobs nothing references are kept.
func Build(root oci.Descriptor, blobs []string, dir, refName string) error {
	return writeTree(root, blobs, nil, nil, dir, refName)
}

// remoteBlob is a layer whose blob is fetched only if the image needs it.
type remoteBlob struct {
	meta oci.LayerMetadata
	path string // metadata file, for messages
}

// buildLayout is BuildLayout plus remote layers, fetched while checking
// completeness so that only referenced ones are downloaded.
func writeTree(root oci.Descriptor, blobs []string, remote map[string]remoteBlob, fetch BlobFetcher, dir, refName string) (err error) {
	created, err := prepareEmptyDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		if created {
			os.RemoveAll(dir)
			return
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}()

	blobDir := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return err
	}
	have := map[string]storedBlob{}
	buf := make([]byte, 1<<20)
	for _, src := range blobs {
		d, size, err := storeBlob(src, blobDir, buf)
		if err != nil {
			return err
		}
		if _, dup := have[d]; !dup {
			have[d] = storedBlob{src: src, size: size}
		}
	}

	w := layoutWalker{dir: blobDir, have: have, seen: map[string]bool{}, remote: remote, fetch: fetch}
	if err := w.check(root, "the root descriptor"); err != nil {
		return err
	}

	top := root
	if refName != "" {
		top.Annotations = maps.Clone(root.Annotations)
		if top.Annotations == nil {
			top.Annotations = map[string]string{}
		}
		top.Annotations[oci.AnnotationRefName] = refName
	}
	index, err := oci.Marshal(oci.Index{SchemaVersion: 2, MediaType: oci.MediaTypeIndex, Manifests: []oci.Descriptor{top}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(oci.ImageLayoutFileContent), 0o644); err != nil {
		return err
	}
	// index.json last: its presence marks a complete layout.
	return os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644)
}

// prepareEmptyDir creates dir or checks that it is an empty directory, so
// that cleaning up after a failure removes only what we wrote.
func prepareEmptyDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true, os.MkdirAll(dir, 0o755)
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("layout directory %s is not empty", dir)
	}
	return false, nil
}

type storedBlob struct {
	src  string
	size int64
}

// storeBlob copies src into dir as <sha256 hex>, hashing while copying so
// that a multi-GiB layer is read once and never held in memory.
func storeBlob(src, dir string, buf []byte) (digest string, size int64, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.CopyBuffer(io.MultiWriter(tmp, h), in, buf)
	if err != nil {
		return "", 0, fmt.Errorf("copying %s: %w", src, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return "", 0, err
	}
	if err = tmp.Close(); err != nil {
		return "", 0, err
	}
	hexSum := hex.EncodeToString(h.Sum(nil))
	dst := filepath.Join(dir, hexSum)
	if _, statErr := os.Stat(dst); statErr == nil {
		// Same content listed twice: the name is its hash, so keep one.
		return "sha256:" + hexSum, size, os.Remove(tmp.Name())
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	return "sha256:" + hexSum, size, nil
}

// layoutWalker checks that everything reachable from a descriptor is
// stored.
type layoutWalker struct {
	dir  string
	have map[string]storedBlob
	seen map[string]bool
	// remote layers by digest, fetched into dir when first referenced.
	remote map[string]remoteBlob
	fetch  BlobFetcher
}

// fetchRemote downloads a remote layer into the layout and records it.
func (w *layoutWalker) fetchRemote(d oci.Descriptor, r remoteBlob, what string) error {
	if r.meta.Size != d.Size {
		return fmt.Errorf("blob %s (%s) is referenced with size %d, but remote layer %s says %d", d.Digest, what, d.Size, r.path, r.meta.Size)
	}
	src := fmt.Sprintf("%s/%s (from %s)", r.meta.Source.Registry, r.meta.Source.Repository, r.path)
	dst := filepath.Join(w.dir, strings.TrimPrefix(d.Digest, "sha256:"))
	if err := w.fetch(r.meta, dst); err != nil {
		return fmt.Errorf("fetching %s (%s): %w", d.Digest, what, err)
	}
	st, err := os.Stat(dst)
	if err != nil {
		return fmt.Errorf("fetching %s (%s) from %s: %w", d.Digest, what, src, err)
	}
	w.have[d.Digest] = storedBlob{src: src, size: st.Size()}
	return nil
}

// maxManifestSize bounds how much of a blob we parse as a manifest or
// index; registries refuse larger manifests too.
const maxManifestSize = 4 << 20

func (w *layoutWalker) check(d oci.Descriptor, what string) error {
	if err := oci.CheckDigest(d.Digest); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	b, ok := w.have[d.Digest]
	if r, remote := w.remote[d.Digest]; !ok && remote {
		if err := w.fetchRemote(d, r, what); err != nil {
			return err
		}
		b, ok = w.have[d.Digest]
	}
	if !ok {
		if len(d.URLs) > 0 {
			return nil // non-distributable: fetched from its URLs, may be absent
		}
		return fmt.Errorf("blob %s (%s) is missing: no --blob file has that sha256, nor is it a remote layer", d.Digest, what)
	}
	if b.size != d.Size {
		return fmt.Errorf("blob %s (%s) is referenced with size %d, but %s has %d bytes", d.Digest, what, d.Size, b.src, b.size)
	}
	if w.seen[d.Digest] {
		return nil
	}
	w.seen[d.Digest] = true

	isIndex := d.MediaType.IsIndex()
	if !isIndex && !d.MediaType.IsManifest() {
		return nil
	}
	if b.size > maxManifestSize {
		return fmt.Errorf("blob %s (%s) is %d bytes, too large for a %s", d.Digest, what, b.size, d.MediaType)
	}
	raw, err := os.ReadFile(filepath.Join(w.dir, strings.TrimPrefix(d.Digest, "sha256:")))
	if err != nil {
		return err
	}
	var doc oci.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("blob %s (%s, from %s): not JSON: %w", d.Digest, what, b.src, err)
	}
	if doc.MediaType != "" && doc.MediaType != d.MediaType {
		return fmt.Errorf("blob %s (%s) is referenced as %s but says it is %s", d.Digest, what, d.MediaType, doc.MediaType)
	}
	name := "manifest"
	if isIndex {
		name = "index"
		for i, m := range doc.Manifests {
			if err := w.check(m, fmt.Sprintf("manifest %d of %s %s", i+1, name, d.Digest)); err != nil {
				return err
			}
		}
		return nil
	}
	if doc.Config == nil {
		return fmt.Errorf("blob %s (%s) is a manifest without a config", d.Digest, what)
	}
	if err := w.check(*doc.Config, "config of "+name+" "+d.Digest); err != nil {
		return err
	}
	for i, l := range doc.Layers {
		if err := w.check(l, fmt.Sprintf("layer %d of %s %s", i+1, name, d.Digest)); err != nil {
			return err
		}
	}
	return nil
}
