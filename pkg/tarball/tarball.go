// Package tarball writes docker-save tarballs: what `docker load` and
// `podman load` read, and what a load with daemon "tar" leaves in a file.
package tarball

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/reference"
)

// The archive is the layout `docker save` writes since Docker 25: every file
// is content-addressed under blobs/sha256/, and manifest.json names them.
// Docker 20.10's `docker load` only reads the paths manifest.json gives, so
// it accepts it too, as do podman and skopeo (docker-archive).

// archiveEpoch is every entry's mtime: the archive is a build output.
var archiveEpoch = time.Unix(0, 0)

// archiveEntry is one layer file as it goes into the archive.
type archiveEntry struct {
	path  string
	size  int64
	layer image.Layer
	// unpack, when set, stores the layer decompressed: Docker before 23
	// cannot read its compression.
	unpack *compress.Algorithm
}

// dockerManifestEntry is one element of manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Write streams a docker-save tarball of m, tagged with tags
// (written normalised, e.g. docker.io/library/hello:v1). gzip and uncompressed layers
// are copied as they are; zstd layers are stored decompressed because Docker
// 20.10 cannot read them. The bytes depend only on m and tags.
func Write(ctx context.Context, w io.Writer, m image.Manifest, tags []string) error {
	return WriteImages(ctx, w, []Image{{Manifest: m, Tags: tags}})
}

// Image is one image of a docker-save tarball and its tags.
type Image struct {
	Manifest image.Manifest
	Tags     []string
}

// WriteImages streams one docker-save tarball of several images
// (rules_docker's container_bundle); a blob two of them share is stored once.
func WriteImages(ctx context.Context, w io.Writer, images []Image) error {
	var entries []dockerManifestEntry
	var files []archiveEntry
	configs := map[string][]byte{}
	var configOrder []string
	written := map[string]bool{}
	for _, img := range images {
		entry, err := planImage(ctx, img, written, &files)
		if err != nil {
			return err
		}
		if _, ok := configs[entry.Config]; !ok {
			configs[entry.Config] = img.Manifest.Config
			configOrder = append(configOrder, entry.Config)
		}
		entries = append(entries, entry)
	}
	manifestJSON, err := json.Marshal(entries)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	if err := writeTarFile(tw, "manifest.json", manifestJSON); err != nil {
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: archiveEpoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	for _, c := range configOrder {
		if err := writeTarFile(tw, c, configs[c]); err != nil {
			return err
		}
	}
	for _, e := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.path, Size: e.size, Mode: 0o644, ModTime: archiveEpoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := copyLayer(ctx, tw, e); err != nil {
			return err
		}
	}
	return tw.Close()
}

// planImage names one image's files in the archive and adds the layers not
// yet written to files. manifest.json goes first and must name decompressed
// zstd layers by their digest, known only after a pass.
func planImage(ctx context.Context, img Image, written map[string]bool, files *[]archiveEntry) (dockerManifestEntry, error) {
	m := img.Manifest
	names, err := reference.NormalizeTags(img.Tags)
	if err != nil {
		return dockerManifestEntry{}, err
	}
	configHex, err := hexOf(m.ConfigDigest)
	if err != nil {
		return dockerManifestEntry{}, fmt.Errorf("config: %w", err)
	}
	// Full names: podman reads a short "hello:v1" as localhost/hello:v1.
	entry := dockerManifestEntry{Config: "blobs/sha256/" + configHex, RepoTags: append([]string{}, names...), Layers: []string{}}
	written[entry.Config] = true
	for i, l := range m.Layers {
		e := archiveEntry{layer: l, size: l.Size}
		if a := compress.OfMediaType(l.MediaType); !a.DockerReads {
			e.unpack = a
		}
		h := l.Digest
		if e.unpack != nil {
			if h, e.size, err = measureTar(ctx, l, e.unpack); err != nil {
				return entry, fmt.Errorf("layer %d (%s): %w", i+1, l.Digest, err)
			}
		}
		hx, err := hexOf(h)
		if err != nil {
			return entry, fmt.Errorf("layer %d: %w", i+1, err)
		}
		e.path = "blobs/sha256/" + hx
		entry.Layers = append(entry.Layers, e.path)
		if !written[e.path] {
			written[e.path] = true
			*files = append(*files, e)
		}
	}
	return entry, nil
}

func writeTarFile(tw *tar.Writer, name string, b []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644, ModTime: archiveEpoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

func hexOf(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("digest %q is not sha256", digest)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("digest %q is not sha256", digest)
	}
	return h, nil
}

// openLayer opens a layer's blob, checked against its digest: a tarball's
// reader may not check it, so a build output the opener only measured is
// hashed here (and nothing is hashed twice).
func openLayer(ctx context.Context, l image.Layer) (io.ReadCloser, error) {
	r, err := l.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening layer %s: %w", l.Digest, err)
	}
	return image.Ensure(r, l.Digest, l.Size, "layer"), nil
}

// measureTar decompresses a layer once to learn the size and digest of its
// tar, which the tar header and manifest.json need before the bytes.
func measureTar(ctx context.Context, l image.Layer, a *compress.Algorithm) (string, int64, error) {
	r, err := openLayer(ctx, l)
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	d, err := compress.NewReader(r, a.Name)
	if err != nil {
		return "", 0, err
	}
	defer d.Close()
	h := sha256.New()
	n, err := io.Copy(h, d)
	if err != nil {
		return "", 0, fmt.Errorf("decompressing %s: %w", a.Name, err)
	}
	// Drain so that the check sees EOF and the blob's digest.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return "", 0, err
	}
	diffID := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if l.DiffID != "" && l.DiffID != diffID {
		return "", 0, fmt.Errorf("decompresses to %s, but the config says diff ID %s", diffID, l.DiffID)
	}
	return diffID, n, nil
}

// copyLayer writes e's bytes, decompressing again where it must: the second
// pass must give the bytes measured by the first, which tar's size check
// and the digest comparison enforce.
func copyLayer(ctx context.Context, w io.Writer, e archiveEntry) error {
	r, err := openLayer(ctx, e.layer)
	if err != nil {
		return err
	}
	defer r.Close()
	if e.unpack == nil {
		n, err := io.Copy(w, r)
		if err == nil && n != e.size {
			err = fmt.Errorf("layer %s: %d bytes instead of %d", e.layer.Digest, n, e.size)
		}
		return err
	}
	d, err := compress.NewReader(r, e.unpack.Name)
	if err != nil {
		return err
	}
	defer d.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), d)
	if err != nil {
		return fmt.Errorf("layer %s: decompressing %s: %w", e.layer.Digest, e.unpack.Name, err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	want, _ := strings.CutPrefix(e.path, "blobs/sha256/")
	if got := hex.EncodeToString(h.Sum(nil)); n != e.size || got != want {
		return fmt.Errorf("layer %s decompressed differently on the second read", e.layer.Digest)
	}
	return nil
}
