package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/rules-img/rules_img/pkg/cas"
	"github.com/rules-img/rules_img/pkg/compact"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/pull"
	"github.com/rules-img/rules_img/pkg/registry"
	"github.com/rules-img/rules_img/pkg/soci"
)

// Sources say where layer bytes come from when the runfiles lack them.
type Sources struct {
	Cache    cas.Store      // the Bazel remote cache; nil: none
	Keychain authn.Keychain // for base images' registries
	Insecure bool
	Progress io.Writer // progress of long downloads; nil: none
	Gateway  *registry.Gateway
}

// BuildImage reads the image files the spec names. Nothing is opened
// until a layer's bytes are asked for.
func (s *Spec) BuildImage(src Sources) (*image.Image, error) {
	return s.buildImage(s.Image, src)
}

func (s *Spec) buildImage(is ImageSpec, src Sources) (*image.Image, error) {
	img := &image.Image{}
	if is.Index != "" {
		b, err := s.read(is.Index)
		if err != nil {
			return nil, s.missing("index", err)
		}
		img.Index, img.IndexDigest = b, oci.Digest(b)
	}
	for _, ms := range is.Manifests {
		m, err := s.manifest(ms, src)
		if err != nil {
			return nil, err
		}
		img.Manifests = append(img.Manifests, m)
	}
	return img, nil
}

func (s *Spec) manifest(ms ManifestSpec, src Sources) (image.Manifest, error) {
	var m image.Manifest
	var err error
	if m.Raw, err = s.read(ms.Manifest); err != nil {
		return m, s.missing("manifest", err)
	}
	if m.Config, err = s.read(ms.Config); err != nil {
		return m, s.missing("config", err)
	}
	b, err := s.read(ms.Descriptor)
	if err != nil {
		return m, s.missing("descriptor", err)
	}
	d, err := oci.ParseDescriptor(b, ms.Descriptor)
	if err != nil {
		return m, fmt.Errorf("%s: %w", s.Label, err)
	}
	var doc oci.Manifest
	if err := json.Unmarshal(m.Raw, &doc); err != nil {
		return m, fmt.Errorf("%s: %s is not a manifest: %w", s.Label, ms.Manifest, err)
	}
	m.Digest, m.MediaType = oci.Digest(m.Raw), d.MediaType
	if m.Digest != d.Digest {
		return m, fmt.Errorf("%s: %s does not match its descriptor; rebuild", s.Label, ms.Manifest)
	}
	if d.Platform != nil {
		m.Platform = *d.Platform
	}
	m.ConfigDigest, m.ConfigMediaType = oci.Digest(m.Config), doc.Config.MediaType
	if m.ConfigDigest != doc.Config.Digest {
		return m, fmt.Errorf("%s: %s does not match the manifest's config; rebuild", s.Label, ms.Config)
	}
	if len(ms.Layers) != len(doc.Layers) {
		return m, fmt.Errorf("%s: %s lists %d layers, the spec %d; rebuild", s.Label, ms.Manifest, len(doc.Layers), len(ms.Layers))
	}
	for i, ls := range ms.Layers {
		b, err := s.read(ls.Metadata)
		if err != nil {
			return m, s.missing("layer metadata", err)
		}
		md, err := oci.ParseLayerMetadata(b, ls.Metadata)
		if err != nil {
			return m, fmt.Errorf("%s: %w", s.Label, err)
		}
		if md.Digest != doc.Layers[i].Digest {
			return m, fmt.Errorf("%s: layer %d of %s is %s but its metadata says %s; rebuild", s.Label, i, ms.Manifest, doc.Layers[i].Digest, md.Digest)
		}
		m.Layers = append(m.Layers, image.Layer{
			MediaType: doc.Layers[i].MediaType,
			Digest:    md.Digest,
			Size:      md.Size,
			DiffID:    md.DiffID,
			CASDigest: md.CASDigest,
			Source:    md.Source,
			Open:      s.opener(ls, md, src),
		})
	}
	if ms.Soci != nil {
		a, ok, err := s.sociIndex(*ms.Soci, m.Platform)
		if err != nil {
			return m, err
		}
		if ok {
			m.Artifacts = append(m.Artifacts, a)
		}
		// The manifest names its SOCI index; a stale one would leave it
		// naming a manifest nobody pushed.
		if named := doc.Annotations[soci.AnnotationIndexDigest]; named != a.Digest {
			return m, fmt.Errorf("%s: %s names SOCI index %q, and its SOCI index is %q; rebuild", s.Label, ms.Manifest, named, a.Digest)
		}
	}
	return m, nil
}

// sociIndex reads an image's SOCI index; ok is false when it has none.
func (s *Spec) sociIndex(ss SociSpec, platform oci.Platform) (image.Manifest, bool, error) {
	var a image.Manifest
	raw, err := s.read(ss.Manifest)
	if err != nil {
		return a, false, s.missing("SOCI index", err)
	}
	if len(raw) == 0 {
		return a, false, nil
	}
	var doc oci.Manifest
	if err := json.Unmarshal(raw, &doc); err != nil {
		return a, false, fmt.Errorf("%s: %s is not a manifest: %w", s.Label, ss.Manifest, err)
	}
	if a.Config, err = s.read(ss.Config); err != nil {
		return a, false, s.missing("SOCI index config", err)
	}
	a.Raw, a.Digest, a.MediaType, a.Platform = raw, oci.Digest(raw), oci.MediaTypeManifest, platform
	a.ConfigDigest, a.ConfigMediaType = oci.Digest(a.Config), doc.Config.MediaType
	ztocs := map[string]string{}
	for _, p := range ss.Ztocs {
		b, err := s.read(p)
		if err != nil {
			return a, false, s.missing("ztoc", err)
		}
		if len(b) > 0 {
			ztocs[oci.Digest(b)] = p
		}
	}
	for _, d := range doc.Layers {
		p, ok := ztocs[d.Digest]
		if !ok {
			return a, false, fmt.Errorf("%s: the SOCI index %s lists ztoc %s, which is not among its files; rebuild", s.Label, ss.Manifest, d.Digest)
		}
		a.Layers = append(a.Layers, image.Layer{
			MediaType: d.MediaType,
			Digest:    d.Digest,
			Size:      d.Size,
			Open: func(context.Context) (io.ReadCloser, error) {
				b, err := s.read(p)
				if err != nil {
					return nil, err
				}
				return image.Verify(io.NopCloser(bytes.NewReader(b)), d.Digest, d.Size, "ztoc "+d.Digest), nil
			},
		})
	}
	return a, true, nil
}

// casKey is the layer's key in the remote cache: its digest, or, when
// Bazel hashes with another function, the key its metadata recorded.
func (s *Spec) casKey(md oci.LayerMetadata) (string, error) {
	fn, err := oci.CASDigestFunction(s.CASDigestFunction)
	if err != nil {
		return "", err
	}
	if fn == oci.CASSHA256 {
		return md.Digest, nil
	}
	if !strings.HasPrefix(md.CASDigest, fn+":") {
		return "", fmt.Errorf("its metadata records no %s key for the remote cache (--@rules_img//img/settings:digest_function=%s): rebuild it with that setting", fn, fn)
	}
	return md.CASDigest, nil
}

// checkDigestFunction explains a failed cache read that comes from a
// digest function mismatch: Bazel's --digest_function and the
// digest_function setting must agree, and the cache says which it keys by.
func (s *Spec) checkDigestFunction(ctx context.Context, cache cas.Store) error {
	c, ok := cache.(interface {
		DigestFunctions(context.Context) ([]string, error)
	})
	if !ok {
		return nil
	}
	fns, err := c.DigestFunctions(ctx)
	if err != nil || len(fns) == 0 {
		return nil
	}
	want, _ := oci.CASDigestFunction(s.CASDigestFunction)
	if slices.Contains(fns, want) {
		return nil
	}
	return fmt.Errorf("the remote cache %s keys blobs by %s, and the image's layers were described for %s: "+
		"a build with Bazel's --digest_function=%s needs --@rules_img//img/settings:digest_function=%s too (put both in .bazelrc)",
		cache, strings.Join(fns, ", "), want, strings.ToUpper(fns[0]), fns[0])
}

func (s *Spec) missing(what string, err error) error {
	return fmt.Errorf("%s: reading the image's %s: %w (run it with bazel run, which provides its runfiles)", s.Label, what, err)
}

// opener tries, in order: the blob in the runfiles, the Bazel remote cache,
// the registry of the base image the layer came from.
func (s *Spec) opener(ls LayerSpec, md oci.LayerMetadata, src Sources) image.Opener {
	name := fmt.Sprintf("%s: layer %s", s.Label, md.Digest)
	if ls.Compact != nil {
		return s.compactOpener(*ls.Compact, md, src, name)
	}
	return func(ctx context.Context) (io.ReadCloser, error) {
		if ls.Blob != "" {
			f, err := os.Open(s.path(ls.Blob))
			if err == nil {
				// Built by the layer action, which computed the digest from
				// these bytes; whoever receives them hashes them again.
				return image.CheckLength(f, md.Digest, md.Size, name), nil
			}
			if !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		var cacheErr error
		if src.Cache != nil {
			key, err := s.casKey(md)
			if err != nil {
				return nil, fmt.Errorf("%s (%s): %w", name, ls.Metadata, err)
			}
			r, err := src.Cache.Open(ctx, key, md.Size)
			if err == nil {
				return image.Verify(r, md.Digest, md.Size, name+" (from "+src.Cache.String()+")"), nil
			}
			cacheErr = err
		}
		if md.Source != nil {
			r, err := pull.OpenBlob(ctx, *md.Source, md.Digest, md.Size, pull.FetchOptions{
				Keychain: src.Keychain, Insecure: src.Insecure, Name: md.Digest, Progress: src.Progress, Gateway: src.Gateway,
			})
			if err != nil {
				return nil, fmt.Errorf("%s of base image %s/%s: %w", name, md.Source.Registry, md.Source.Repository, err)
			}
			return image.Verify(r, md.Digest, md.Size, name), nil
		}
		if cacheErr != nil {
			if err := s.checkDigestFunction(ctx, src.Cache); err != nil {
				return nil, fmt.Errorf("%s (%s): %w", name, ls.Metadata, err)
			}
		}
		switch {
		case errors.Is(cacheErr, cas.ErrNotFound):
			return nil, fmt.Errorf("%s (%s): the remote cache %s no longer holds it (evicted); rebuild the image so the cache has it again (for example bazel build --remote_download_outputs=all), then push again", name, ls.Metadata, src.Cache)
		case cacheErr != nil:
			return nil, fmt.Errorf("%s (%s): %w", name, ls.Metadata, cacheErr)
		case ls.Blob != "":
			return nil, fmt.Errorf("%s: %s is missing; run the target with bazel run so its runfiles exist", name, ls.Blob)
		default:
			return nil, fmt.Errorf("%s (%s): the build kept no bytes of it here and no remote cache is set; use strategy eager, or set --@rules_img//img/settings:remote_cache (or IMG_REAPI_ENDPOINT) to the cache the build used", name, ls.Metadata)
		}
	}
}

// compactOpener rebuilds a compact layer's blob as it is read: the stream
// from the runfiles (or the push request), each referenced file from the
// CAS directory in the runfiles, else from the remote cache by its sha256.
func (s *Spec) compactOpener(cs CompactSpec, md oci.LayerMetadata, src Sources, name string) image.Opener {
	return func(ctx context.Context) (io.ReadCloser, error) {
		stream, err := s.read(cs.Stream)
		if err != nil {
			return nil, fmt.Errorf("%s: its compact stream: %w", name, err)
		}
		dir := compact.DirOpener(s.path(cs.CAS))
		open := func(digest string, size int64) (io.ReadCloser, error) {
			if cs.CAS != "" {
				rc, err := dir(digest, size)
				if err == nil || !errors.Is(err, os.ErrNotExist) {
					return rc, err
				}
			}
			if src.Cache == nil {
				return nil, fmt.Errorf("not in the runfiles, and there is no remote cache to read it from (set --@rules_img//img/settings:remote_cache, or use the eager strategy)")
			}
			return src.Cache.Open(ctx, digest, size)
		}
		pr, pw := io.Pipe()
		go func() {
			_, err := compact.Rebuild(bytes.NewReader(stream), int64(len(stream)), open, pw)
			pw.CloseWithError(err)
		}()
		// Rebuild checks the result against the stream's record; this
		// checks the stream against the layer the image names.
		return image.Verify(pr, md.Digest, md.Size, name+" (rebuilt from its compact stream)"), nil
	}
}
