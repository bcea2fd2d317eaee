package pull

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/rules-img/rules_img/pkg/atomicfile"
	"github.com/rules-img/rules_img/pkg/internal/parallel"
	"github.com/rules-img/rules_img/pkg/internal/text"
	"github.com/rules-img/rules_img/pkg/oci"
)

// Options names the image to pull and where to put it.
type Options struct {
	Registry   string // host[:port], e.g. "index.docker.io", "127.0.0.1:5000"
	Repository string // e.g. "library/alpine"
	Digest     string // sha256:... of the root manifest or index
	Tag        string // informational, unless Digest is empty and AllowTagOnly
	// AllowTagOnly lets an empty Digest be resolved from Tag. The result is
	// not reproducible; Pulled.Image.Digest says what to pin.
	AllowTagOnly bool
	// Insecure allows plain HTTP and skips TLS verification. Loopback
	// registries may use plain HTTP without it.
	Insecure bool
	Keychain authn.Keychain // nil: anonymous
	Eager    bool           // also download layer blobs
	OutDir   string
	Name     string    // Bazel repository name, for messages
	Progress io.Writer // progress lines for long (eager) downloads; nil: none
}

// Record is what Pull writes to OutDir/image.json. Paths are relative to
// OutDir.
type Record struct {
	Registry   string             `json:"registry"`
	Repository string             `json:"repository"`
	Tag        string             `json:"tag"`
	Digest     string             `json:"digest"`
	MediaType  oci.MediaType      `json:"mediaType"`
	Size       int64              `json:"size"`
	Root       string             `json:"root"`
	Manifests  []PlatformManifest `json:"manifests"`
}

// PlatformManifest is one image manifest of the pulled image.
type PlatformManifest struct {
	Platform     ImagePlatform `json:"platform"`
	Digest       string        `json:"digest"`
	MediaType    oci.MediaType `json:"mediaType"`
	Size         int64         `json:"size"`
	Manifest     string        `json:"manifest"`
	Config       string        `json:"config"`
	ConfigDigest string        `json:"configDigest"`
	Layers       []PulledLayer `json:"layers"`
}

// ImagePlatform always has all three keys, so Starlark can index it
// without .get().
type ImagePlatform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
	OSVersion    string `json:"os.version,omitempty"`
}

// PulledLayer points at a layer's metadata, and at its blob when eager.
type PulledLayer struct {
	Digest   string `json:"digest"`
	Metadata string `json:"metadata"`
	Blob     string `json:"blob,omitempty"`
}

// Pulled summarizes a pull.
type Pulled struct {
	Record           Record
	Layers           int   // distinct layers
	LayersDownloaded int   // layer blobs downloaded (eager)
	BytesTransferred int64 // manifests, configs and blobs received
}

// eagerWorkers bounds parallel layer downloads.
const eagerWorkers = 4

// Pull fetches the image's root, every platform manifest and config, writes
// them verbatim to OutDir/blobs/sha256/, layer metadata to
// OutDir/layers/<hex>.json and the summary to OutDir/image.json. Layer
// blobs are downloaded only when Eager.
func Pull(ctx context.Context, opts Options) (_ *Pulled, err error) {
	if opts.OutDir == "" {
		return nil, errors.New("output directory is required")
	}
	ref, image, err := reference(opts)
	if err != nil {
		return nil, err
	}
	c, err := newClient(ctx, opts.Registry, opts.Repository, opts.Keychain, opts.Insecure, image, nil)
	if err != nil {
		return nil, err
	}
	p := &puller{c: c, opts: opts, written: map[string]bool{}}
	// A failed pull leaves no half of an image behind: it removes the
	// directories it made, with everything written into them.
	made, err := makeOutDirs(opts.OutDir)
	defer func() {
		if err != nil {
			for _, d := range made {
				os.RemoveAll(d)
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	out, err := p.root(ctx, ref)
	if err != nil {
		return nil, err
	}
	if opts.Eager {
		if err := p.downloadLayers(ctx); err != nil {
			return nil, err
		}
		for i := range out.Record.Manifests {
			for j, l := range out.Record.Manifests[i].Layers {
				if p.downloaded[l.Digest] {
					out.Record.Manifests[i].Layers[j].Blob = blobPath(l.Digest)
				}
			}
		}
	}
	if err := atomicfile.WriteJSON(filepath.Join(opts.OutDir, "image.json"), out.Record); err != nil {
		return nil, err
	}
	out.Layers = len(p.layers)
	out.LayersDownloaded = len(p.downloaded)
	out.BytesTransferred = c.transferred.Load()
	return out, nil
}

// reference is what to ask the registry for (the digest, or the tag when
// allowed) and the image's name for messages.
func reference(opts Options) (ref, image string, err error) {
	if opts.Registry == "" || opts.Repository == "" {
		return "", "", errors.New("registry and repository are required")
	}
	ref = opts.Digest
	image = opts.Registry + "/" + opts.Repository + "@" + opts.Digest
	switch {
	case opts.Digest != "":
		if err := oci.CheckDigest(opts.Digest); err != nil {
			return "", "", fmt.Errorf("%s: %w", image, err)
		}
	case opts.AllowTagOnly && opts.Tag != "":
		ref = opts.Tag
		image = opts.Registry + "/" + opts.Repository + ":" + opts.Tag
	default:
		return "", "", fmt.Errorf("%s/%s: a digest is required (pulls by tag only are not reproducible)", opts.Registry, opts.Repository)
	}
	if opts.Name != "" {
		image = opts.Name + " (" + image + ")"
	}
	return ref, image, nil
}

// makeOutDirs creates OutDir's blobs/sha256 and layers, and returns the
// top directories it created, for removal if the pull fails.
func makeOutDirs(outDir string) ([]string, error) {
	var made []string
	for _, d := range []string{"blobs", "layers"} {
		dir := filepath.Join(outDir, d)
		if _, serr := os.Stat(dir); os.IsNotExist(serr) {
			made = append(made, dir)
		}
	}
	for _, d := range []string{"blobs/sha256", "layers"} {
		if err := os.MkdirAll(filepath.Join(outDir, d), 0o755); err != nil {
			return made, err
		}
	}
	return made, nil
}

// root fetches and saves the root manifest or index and, for an index,
// each platform image manifest it lists.
func (p *puller) root(ctx context.Context, ref string) (*Pulled, error) {
	c, opts, image := p.c, p.opts, p.c.image
	root, contentType, err := c.fetchManifest(ctx, ref, opts.Digest, -1, "root manifest")
	if err != nil {
		return nil, err
	}
	digest := opts.Digest
	if digest == "" {
		sum := sha256.Sum256(root)
		digest = "sha256:" + hex.EncodeToString(sum[:])
	}
	doc, mediaType, err := parseManifest(root, contentType)
	if err != nil {
		return nil, fmt.Errorf("%s: root %s: %w", image, digest, err)
	}
	rootPath, err := p.save(digest, root)
	if err != nil {
		return nil, err
	}
	out := &Pulled{Record: Record{
		Registry: opts.Registry, Repository: opts.Repository, Tag: opts.Tag,
		Digest: digest, MediaType: mediaType, Size: int64(len(root)), Root: rootPath,
	}}
	if !mediaType.IsIndex() {
		pm, err := p.manifest(ctx, digest, mediaType, root, nil, "manifest")
		if err != nil {
			return nil, err
		}
		out.Record.Manifests = []PlatformManifest{pm}
		return out, nil
	}
	for i, m := range doc.Manifests {
		// Attestations, nested indexes and artifacts (signatures, SBOMs)
		// are no platform images to build on.
		if isAttestation(m) || !m.MediaType.IsManifest() {
			continue
		}
		what := fmt.Sprintf("manifest %d (%s) of the index", i+1, m.Digest)
		if err := oci.CheckDigest(m.Digest); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", image, what, err)
		}
		raw, _, err := c.fetchManifest(ctx, m.Digest, m.Digest, m.Size, what)
		if err != nil {
			return nil, err
		}
		pm, err := p.manifest(ctx, m.Digest, m.MediaType, raw, m.Platform, what)
		if err != nil {
			return nil, err
		}
		out.Record.Manifests = append(out.Record.Manifests, pm)
	}
	if len(out.Record.Manifests) == 0 {
		return nil, fmt.Errorf("%s: the index lists no platform image manifests", image)
	}
	return out, nil
}

type puller struct {
	c          *client
	opts       Options
	written    map[string]bool // layer metadata files written
	layers     []oci.Descriptor
	downloaded map[string]bool
}

// manifestDoc is the part of a manifest or index that Pull reads.
type manifestDoc struct {
	SchemaVersion int              `json:"schemaVersion"`
	MediaType     oci.MediaType    `json:"mediaType"`
	Config        *oci.Descriptor  `json:"config"`
	Layers        []oci.Descriptor `json:"layers"`
	Manifests     []oci.Descriptor `json:"manifests"`
}

// parseManifest decodes a manifest or index and settles its media type:
// the document's own field, else the Content-Type, else its shape.
func parseManifest(raw []byte, contentType string) (manifestDoc, oci.MediaType, error) {
	var doc manifestDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return doc, "", fmt.Errorf("not a JSON manifest: %v", err)
	}
	if doc.SchemaVersion == 1 {
		return doc, "", errors.New("Docker schema 1 manifests are not supported; push the image again with a current client")
	}
	mt := doc.MediaType
	if mt == "" {
		ct, _, _ := strings.Cut(contentType, ";")
		mt = oci.MediaType(strings.TrimSpace(ct))
	}
	if !mt.IsIndex() && !mt.IsManifest() {
		switch {
		case doc.Manifests != nil:
			mt = oci.MediaTypeIndex
		case doc.Config != nil:
			mt = oci.MediaTypeManifest
		default:
			return doc, "", fmt.Errorf("media type %q is not an image manifest or index", mt)
		}
	}
	return doc, mt, nil
}

// isAttestation spots BuildKit's provenance/SBOM entries in an index.
func isAttestation(d oci.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// manifest handles one image manifest: saves it, fetches its config and
// writes its layers' metadata.
func (p *puller) manifest(ctx context.Context, digest string, mediaType oci.MediaType, raw []byte, platform *oci.Platform, what string) (PlatformManifest, error) {
	image := p.c.image
	doc, mt, err := parseManifest(raw, string(mediaType))
	if err != nil {
		return PlatformManifest{}, fmt.Errorf("%s: %s: %w", image, what, err)
	}
	if !mt.IsManifest() {
		return PlatformManifest{}, fmt.Errorf("%s: %s is a %s, not an image manifest", image, what, mt)
	}
	if doc.Config == nil {
		return PlatformManifest{}, fmt.Errorf("%s: %s has no config", image, what)
	}
	manifestPath, err := p.save(digest, raw)
	if err != nil {
		return PlatformManifest{}, err
	}
	cfgWhat := "config of " + what
	if err := oci.CheckDigest(doc.Config.Digest); err != nil {
		return PlatformManifest{}, fmt.Errorf("%s: %s: %w", image, cfgWhat, err)
	}
	cfgRaw, err := p.c.fetchSmallBlob(ctx, doc.Config.Digest, doc.Config.Size, cfgWhat)
	if err != nil {
		return PlatformManifest{}, err
	}
	var cfg struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
		OSVersion    string `json:"os.version"`
		RootFS       struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cfgRaw, &cfg); err != nil {
		return PlatformManifest{}, fmt.Errorf("%s: %s is not a JSON image config: %v", image, cfgWhat, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(doc.Layers) {
		return PlatformManifest{}, fmt.Errorf("%s: %s lists %d layers, its config %d diff_ids", image, what, len(doc.Layers), len(cfg.RootFS.DiffIDs))
	}
	configPath, err := p.save(doc.Config.Digest, cfgRaw)
	if err != nil {
		return PlatformManifest{}, err
	}

	pm := PlatformManifest{
		Platform: ImagePlatform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion},
		Digest:   digest, MediaType: mt, Size: int64(len(raw)),
		Manifest: manifestPath, Config: configPath, ConfigDigest: doc.Config.Digest,
		Layers: []PulledLayer{},
	}
	if platform != nil {
		// The index entry is what platform selection matches on.
		pm.Platform = ImagePlatform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant, OSVersion: platform.OSVersion}
	}
	src := &oci.BlobSource{Registry: p.opts.Registry, Repository: p.opts.Repository}
	for i, l := range doc.Layers {
		if err := oci.CheckDigest(l.Digest); err != nil {
			return PlatformManifest{}, fmt.Errorf("%s: layer %d of %s: %w", image, i+1, what, err)
		}
		meta := filepath.Join("layers", strings.TrimPrefix(l.Digest, "sha256:")+".json")
		if !p.written[l.Digest] {
			m := oci.LayerMetadata{
				MediaType: l.MediaType, Digest: l.Digest, Size: l.Size,
				DiffID: cfg.RootFS.DiffIDs[i], Annotations: l.Annotations, Source: src,
			}
			if err := atomicfile.WriteJSON(filepath.Join(p.opts.OutDir, meta), m); err != nil {
				return PlatformManifest{}, err
			}
			p.written[l.Digest] = true
			p.layers = append(p.layers, l)
		}
		pm.Layers = append(pm.Layers, PulledLayer{Digest: l.Digest, Metadata: meta})
	}
	return pm, nil
}

// save writes a fetched document as its blob file; the path is relative to
// OutDir.
func (p *puller) save(digest string, raw []byte) (string, error) {
	rel := blobPath(digest)
	return rel, atomicfile.WriteBytes(filepath.Join(p.opts.OutDir, rel), raw)
}

func blobPath(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

// downloadLayers fetches every distinct layer blob, a few at a time.
// Foreign layers (with URLs) are skipped: registries usually lack them.
func (p *puller) downloadLayers(ctx context.Context) error {
	var todo []oci.Descriptor
	var total int64
	for _, l := range p.layers {
		if len(l.URLs) == 0 {
			todo = append(todo, l)
			total += l.Size
		}
	}
	label := "img pull"
	if p.opts.Name != "" {
		label += " " + p.opts.Name
	}
	prog := startProgress(p.opts.Progress, label, total)
	defer prog.stop()

	p.downloaded = map[string]bool{}
	var mu sync.Mutex
	return parallel.Each(ctx, todo, eagerWorkers, func(ctx context.Context, l oci.Descriptor) error {
		dst := filepath.Join(p.opts.OutDir, blobPath(l.Digest))
		if err := p.c.downloadBlob(ctx, l.Digest, l.Size, dst, prog, "layer "+l.Digest); err != nil {
			return err
		}
		mu.Lock()
		p.downloaded[l.Digest] = true
		mu.Unlock()
		return nil
	})
}

// Summary is the line `img pull` prints when it is done.
func (p *Pulled) Summary(o Options) string {
	name := o.Name
	if name == "" {
		name = o.Registry + "/" + o.Repository
	}
	kind := "manifest"
	if len(p.Record.Manifests) > 1 || p.Record.MediaType != p.Record.Manifests[0].MediaType {
		kind = fmt.Sprintf("index, %d platform images", len(p.Record.Manifests))
	}
	layerNote := fmt.Sprintf("%d layers as metadata", p.Layers)
	if o.Eager {
		layerNote = fmt.Sprintf("%d of %d layers downloaded", p.LayersDownloaded, p.Layers)
	}
	return fmt.Sprintf("img pull %s: %s/%s@%s (%s, %s), %s transferred",
		name, p.Record.Registry, p.Record.Repository, p.Record.Digest, kind, layerNote, text.Size(p.BytesTransferred))
}
