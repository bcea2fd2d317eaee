// Package push uploads a built image (pkg/image) to an OCI registry:
// missing blobs first, in parallel, mounted or streamed from their source,
// then manifests, the index and last the tags, so that a tag never points
// at an incomplete image.
package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/parallel"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/reference"
	"github.com/rules-img/rules_img/pkg/registry"
)

// Options says where to push and how.
type Options struct {
	Registry   string   // e.g. "127.0.0.1:5000", "ghcr.io"
	Repository string   // e.g. "team/app"
	Tags       []string // may be empty: push by digest only
	// ManifestTags, for an index, holds tags for each of its manifests, in
	// index order: each names that platform's image alone.
	ManifestTags [][]string
	Keychain     authn.Keychain // for the destination and for source registries (nil: anonymous)
	// Insecure allows plain HTTP and skips TLS verification. Loopback
	// registries use plain HTTP without it.
	Insecure bool
	Jobs     int      // concurrent blob uploads; <=0: 4
	Progress Reporter // may be nil
	Label    string   // Bazel label for messages, e.g. "//app:push"
	// Shared, when set, is shared with the other pushes of this process, so
	// a blob they all need is uploaded once and mounted by the rest.
	Shared *Shared
	// Dedup says how this push takes part in Shared (deduplicated_push):
	// DedupBestEffort (also ""), DedupEnabled or DedupDisabled.
	Dedup Dedup
	// HomeRepository, with Shared, is where every layer is uploaded once and
	// mounted from (deduplicated_push_blob_repository).
	HomeRepository string
	// ArtificialManifests: after a layer is uploaded to its home repository,
	// a manifest referencing it is written there too, so registries that
	// share only referenced blobs share it (deduplicated_push_content =
	// blobs_and_artificial_manifests).
	ArtificialManifests bool
	// MountFrom lists more repositories of the destination registry that a
	// layer the registry lacks is mounted from when one holds it
	// (cross_mount_from).
	MountFrom []string
	// NoBaseMounts turns off mounting base layers from their own repository
	// (cross_mount = disabled).
	NoBaseMounts bool
	// Warnings receives what a best-effort fallback has to say; nil: dropped.
	Warnings io.Writer
	// BlobsOnly, when set, makes the push place just these blobs (by digest)
	// and write no manifest or tag: one build action's share of a push at
	// build time. A non-nil opener replaces the image's for that digest: a
	// blob two manifests share is read from the one the action was given.
	BlobsOnly map[string]image.Opener
	// ForbidLayerUpload refuses to send a layer's bytes: a layer the
	// registry lacks must be mounted (forbid_layer_push).
	ForbidLayerUpload bool
	// Gateway, when set, receives the requests instead of the registry.
	Gateway *registry.Gateway
	// BeforeTags runs once the image is complete in the registry and
	// before any tag names it: referrers and signatures go there, so a tag
	// never points at an image whose signature is still missing.
	BeforeTags func(ctx context.Context) error
}

// Result summarizes a push.
type Result struct {
	Reference                   string   // "registry/repository@sha256:..."
	Digest                      string   // of the root manifest or index
	Tags                        []string // fully tagged references pushed, e.g. "registry/repo:latest"
	Uploaded, Mounted, Existing int      // blob counts (layers+configs)
	BytesUploaded               int64
}

// blob is one distinct config or layer to make present.
type blob struct {
	digest    string
	size      int64
	mediaType oci.MediaType
	kind      string // "layer" or "config", for messages
	diffID    string // of a layer, when known
	source    *oci.BlobSource
	open      image.Opener
}

func (b *blob) what() string {
	return fmt.Sprintf("%s %s (%s, %d bytes)", b.kind, b.digest, b.mediaType, b.size)
}

// Push uploads img to opts.Registry/opts.Repository and tags it.
func Push(ctx context.Context, img *image.Image, opts Options) (Result, error) {
	prefix := ""
	if opts.Label != "" {
		prefix = opts.Label + ": "
	}
	fail := func(err error) (Result, error) { return Result{}, errors.New(prefix + err.Error()) }
	if err := check(img, opts); err != nil {
		return fail(err)
	}
	reg, err := registry.ParseRegistry(opts.Registry, opts.Insecure)
	if err != nil {
		return fail(fmt.Errorf("registry %q: %w", opts.Registry, err))
	}
	blobs, err := collect(img)
	if err != nil {
		return fail(err)
	}
	if opts.BlobsOnly != nil {
		var only []*blob
		for _, b := range blobs {
			if open, ok := opts.BlobsOnly[b.digest]; ok {
				if open != nil {
					b.open = open
				}
				only = append(only, b)
			}
		}
		if len(only) != len(opts.BlobsOnly) {
			return fail(fmt.Errorf("%d of the %d blobs to push are not in the image", len(opts.BlobsOnly)-len(only), len(opts.BlobsOnly)))
		}
		blobs = only
	}
	// Sources in the same registry can be mounted; ask for pull there too.
	var mountFrom []string
	seen := map[string]bool{opts.Repository: true}
	addSource := func(repo string) {
		if !seen[repo] {
			seen[repo] = true
			mountFrom = append(mountFrom, repo)
		}
	}
	for _, b := range blobs {
		if from, ok := mountSource(b, reg, opts.Repository); ok && !opts.NoBaseMounts {
			addSource(from)
		}
	}
	for _, repo := range opts.MountFrom {
		addSource(repo)
	}
	if opts.HomeRepository != "" && opts.Shared != nil && opts.Dedup != DedupDisabled {
		addSource(opts.HomeRepository)
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	r, err := registry.Open(ctx, opts.Registry, opts.Repository, registry.Options{
		Direction: registry.Push, Keychain: opts.Keychain, Insecure: opts.Insecure,
		MountFrom: mountFrom, Conns: jobs + 2, Gateway: opts.Gateway,
	})
	if err != nil {
		return fail(err)
	}
	p := &pusher{r: r, rep: opts.Progress, target: r.Label(), shared: opts.Shared, opts: opts, jobs: jobs}
	if opts.Dedup == DedupDisabled {
		p.shared = nil
	}
	if p.rep == nil {
		p.rep = nopReporter{}
	}
	root, rootRaw := img.Manifests[0].Digest, img.Manifests[0].Raw
	rootType := oci.MediaTypeOf(img.Manifests[0].MediaType, rootRaw, oci.MediaTypeManifest)
	if img.IsIndex() {
		root, rootRaw = img.IndexDigest, img.Index
		rootType = oci.MediaTypeOf("", rootRaw, oci.MediaTypeIndex)
	}
	res := Result{Reference: opts.Registry + "/" + opts.Repository + "@" + root, Digest: root}
	// Tags are written last, so tags that already name this image mean the
	// whole image is there: pushing an unchanged image again costs one HEAD
	// per tag (or one for the root manifest, without tags). A blob-only
	// push asks for blobs, whatever the tags say.
	// A referrer is checked for findability from its subject too, so it
	// takes the long way.
	if opts.BlobsOnly == nil && oci.SubjectOf(rootRaw) == "" && p.complete(ctx, root, rootType, opts.Tags) && p.manifestsTagged(ctx, img, opts.ManifestTags) {
		if opts.BeforeTags != nil {
			if err := opts.BeforeTags(ctx); err != nil {
				return fail(err)
			}
		}
		res.Existing = len(blobs)
		for _, b := range blobs {
			p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Queued})
			p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Skipped})
		}
		for _, tag := range opts.Tags {
			res.Tags = append(res.Tags, opts.Registry+"/"+opts.Repository+":"+tag)
		}
		for _, tags := range opts.ManifestTags {
			for _, tag := range tags {
				res.Tags = append(res.Tags, opts.Registry+"/"+opts.Repository+":"+tag)
			}
		}
		return res, nil
	}
	for _, b := range blobs {
		p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Queued})
	}
	if err := p.blobs(ctx, blobs, jobs); err != nil {
		return fail(err)
	}
	res.Uploaded, res.Mounted, res.Existing = int(p.uploaded.Load()), int(p.mounted.Load()), int(p.existing.Load())
	res.BytesUploaded = p.bytes.Load()
	if opts.BlobsOnly != nil {
		return res, nil
	}

	// Each manifest by digest, then the index: a registry may refuse an
	// index whose manifests it does not have yet. A manifest's artifacts
	// (its SOCI index) go first: the index may list them too.
	for _, m := range img.Manifests {
		for _, a := range m.Artifacts {
			what := fmt.Sprintf("artifact %s of manifest %s (%s)", a.Digest, m.Digest, a.ConfigMediaType)
			if err := p.manifest(ctx, a.Digest, oci.MediaTypeManifest, a.Digest, a.Raw, what); err != nil {
				return fail(err)
			}
		}
		mt := oci.MediaTypeOf(m.MediaType, m.Raw, oci.MediaTypeManifest)
		what := fmt.Sprintf("manifest %s (%s, %s)", m.Digest, mt, m.Platform)
		if err := p.manifest(ctx, m.Digest, mt, m.Digest, m.Raw, what); err != nil {
			return fail(err)
		}
	}
	if img.IsIndex() {
		what := fmt.Sprintf("index %s (%s)", root, rootType)
		if err := p.manifest(ctx, root, rootType, root, rootRaw, what); err != nil {
			return fail(err)
		}
	}
	if opts.BeforeTags != nil {
		if err := opts.BeforeTags(ctx); err != nil {
			return fail(err)
		}
	}
	// Only now is the image complete; tags last.
	for _, tag := range opts.Tags {
		if err := p.manifest(ctx, tag, rootType, root, rootRaw, fmt.Sprintf("tag %q for %s", tag, root)); err != nil {
			return res, errors.New(prefix + err.Error())
		}
		res.Tags = append(res.Tags, opts.Registry+"/"+opts.Repository+":"+tag)
	}
	for i, tags := range opts.ManifestTags {
		m := img.Manifests[i]
		mt := oci.MediaTypeOf(m.MediaType, m.Raw, oci.MediaTypeManifest)
		for _, tag := range tags {
			if err := p.manifest(ctx, tag, mt, m.Digest, m.Raw, fmt.Sprintf("tag %q for manifest %s (%s)", tag, m.Digest, m.Platform)); err != nil {
				return res, errors.New(prefix + err.Error())
			}
			res.Tags = append(res.Tags, opts.Registry+"/"+opts.Repository+":"+tag)
		}
	}
	return res, nil
}

// check rejects input that would fail half-way or push something other
// than what was built.
func check(img *image.Image, opts Options) error {
	if opts.Registry == "" || opts.Repository == "" {
		return errors.New("registry and repository are required")
	}
	if err := reference.CheckRepository(opts.Repository); err != nil {
		return err
	}
	for _, t := range opts.Tags {
		if err := reference.CheckTag(t); err != nil {
			return err
		}
	}
	if img == nil || len(img.Manifests) == 0 {
		return errors.New("the image has no manifest")
	}
	if len(opts.ManifestTags) > 0 {
		if !img.IsIndex() {
			return errors.New("manifest_tags name the manifests of an index, and this image is a single manifest: use tag or tag_list")
		}
		if len(opts.ManifestTags) != len(img.Manifests) {
			return fmt.Errorf("manifest_tags were filled for %d manifests, and the index has %d", len(opts.ManifestTags), len(img.Manifests))
		}
		seen := map[string]int{}
		for _, t := range opts.Tags {
			seen[t] = -1
		}
		for i, tags := range opts.ManifestTags {
			for _, t := range tags {
				if err := reference.CheckTag(t); err != nil {
					return fmt.Errorf("manifest_tags: %w", err)
				}
				if prev, ok := seen[t]; ok && prev != i {
					return fmt.Errorf("manifest_tags: tag %q would name two images (add {{.os}}, {{.architecture}} or {{.variant}} to the template so each platform gets its own)", t)
				}
				seen[t] = i
			}
		}
	}
	if img.IsIndex() && oci.Digest(img.Index) != img.IndexDigest {
		return fmt.Errorf("index bytes hash to %s, not the declared %s", oci.Digest(img.Index), img.IndexDigest)
	}
	var all []image.Manifest
	for _, m := range img.Manifests {
		all = append(append(all, m), m.Artifacts...)
	}
	for _, m := range all {
		if got := oci.Digest(m.Raw); got != m.Digest {
			return fmt.Errorf("manifest bytes hash to %s, not the declared %s", got, m.Digest)
		}
		if got := oci.Digest(m.Config); got != m.ConfigDigest {
			return fmt.Errorf("config of manifest %s hashes to %s, not the declared %s", m.Digest, got, m.ConfigDigest)
		}
		for _, l := range m.Layers {
			if err := oci.CheckDigest(l.Digest); err != nil {
				return fmt.Errorf("layer of manifest %s: %w", m.Digest, err)
			}
			if l.Size < 0 || l.Open == nil {
				return fmt.Errorf("layer %s of manifest %s has no size or opener", l.Digest, m.Digest)
			}
		}
	}
	return nil
}

// collect lists each distinct blob once, configs and layers in manifest
// order. Non-distributable (foreign) layers are left out: registries are
// not expected to hold them.
func collect(img *image.Image) ([]*blob, error) {
	var out []*blob
	byDigest := map[string]*blob{}
	add := func(b *blob) error {
		if prev, ok := byDigest[b.digest]; ok {
			if prev.size != b.size {
				return fmt.Errorf("blob %s is referenced with sizes %d and %d", b.digest, prev.size, b.size)
			}
			if prev.source == nil {
				prev.source = b.source
			}
			return nil
		}
		byDigest[b.digest] = b
		out = append(out, b)
		return nil
	}
	var all []image.Manifest
	for _, m := range img.Manifests {
		all = append(append(all, m.Artifacts...), m)
	}
	for _, m := range all {
		cfg := m.Config
		cmt := m.ConfigMediaType
		if cmt == "" {
			cmt = oci.MediaTypeConfig
		}
		err := add(&blob{
			digest: m.ConfigDigest, size: int64(len(cfg)), mediaType: cmt, kind: "config",
			open: func(context.Context) (io.ReadCloser, error) {
				return image.Verify(io.NopCloser(bytes.NewReader(cfg)), m.ConfigDigest, int64(len(cfg)), "config"), nil
			},
		})
		if err != nil {
			return nil, err
		}
		for _, l := range m.Layers {
			if l.MediaType.IsNonDistributable() {
				continue
			}
			err := add(&blob{digest: l.Digest, size: l.Size, mediaType: l.MediaType, kind: "layer", diffID: l.DiffID, source: l.Source, open: l.Open})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// mountSource returns the repository to mount b from, if its source is
// another repository of the destination registry.
func mountSource(b *blob, dst name.Registry, repo string) (string, bool) {
	if b.source == nil || b.source.Repository == "" || b.source.Repository == repo {
		return "", false
	}
	src, err := name.NewRegistry(b.source.Registry)
	if err != nil || src.RegistryStr() != dst.RegistryStr() {
		return "", false
	}
	return b.source.Repository, true
}

type pusher struct {
	r      *registry.Repo
	rep    Reporter
	target string // registry/repository, for messages
	shared *Shared
	opts   Options
	jobs   int

	homeOnce sync.Once
	home     *pusher // the home repository's, when opts.HomeRepository
	homeErr  error

	uploaded, mounted, existing atomic.Int32
	bytes                       atomic.Int64
}

// blobs makes every blob present, jobs at a time; the first failure stops
// the rest.
func (p *pusher) blobs(ctx context.Context, blobs []*blob, jobs int) error {
	return parallel.Each(ctx, blobs, jobs, p.blob)
}

// blob makes one blob present: known already, mounted, or uploaded. With
// Shared, the first push of a blob into a registry places it and the others
// wait, then mount it from there; a remembered placement that no longer
// mounts (the registry was wiped, or it cannot mount) is forgotten, so one
// push uploads again while the rest wait once more.
func (p *pusher) blob(ctx context.Context, b *blob) error {
	from, mount := mountSource(b, p.r.Registry(), p.r.Name())
	mount = mount && !p.opts.NoBaseMounts
	if !mount && b.kind == "layer" {
		// cross_mount_from: the layer may already be in a sibling image's repository.
		for _, repo := range p.opts.MountFrom {
			if repo == p.r.Name() {
				continue
			}
			if ok, err := p.place(ctx, b, repo, true, false); ok || err != nil {
				return err
			}
		}
	}
	if p.shared == nil || mount {
		_, err := p.place(ctx, b, from, mount, true)
		return err
	}
	if p.opts.HomeRepository != "" && b.kind == "layer" {
		return p.viaHome(ctx, b)
	}
	reg := p.r.Registry().RegistryStr()
	for attempt := 0; ; attempt++ {
		mine, theirs := p.shared.claim(reg, b.digest)
		if mine != nil {
			mine.strict = p.strict()
			_, err := p.place(ctx, b, "", false, true)
			placed := ""
			if err == nil {
				placed = p.r.Name()
			}
			p.shared.finish(reg, b.digest, mine, placed)
			return err
		}
		repo, err := theirs.wait(ctx)
		if err != nil {
			return err
		}
		if repo != "" && repo != p.r.Name() && b.kind == "layer" && theirs.strict && p.strict() {
			// This deploy put the layer there to mount it here: bytes are
			// not sent again (deduplicated_push = enabled).
			return p.mountOnly(ctx, b, repo)
		}
		// The second time round, do whatever it takes.
		last := attempt > 0
		if repo == "" && last {
			_, err := p.place(ctx, b, "", false, true)
			return err
		}
		if repo != "" {
			if ok, err := p.place(ctx, b, repo, repo != p.r.Name(), last); ok || err != nil || last {
				return err
			}
		}
		p.shared.forget(reg, b.digest, theirs)
	}
}

// place makes one blob present: known already, mounted from the repository
// from (when mount), or, when upload, uploaded. It reports whether the blob
// is there.
func (p *pusher) place(ctx context.Context, b *blob, from string, mount, upload bool) (bool, error) {
	r := p.r
	var exists bool
	err := r.Retry(ctx, func() (err error) {
		exists, err = r.BlobExists(ctx, b.digest)
		return err
	})
	if err != nil {
		return false, explain(r, err, "checking whether "+p.target+" has "+b.what())
	}
	if exists {
		p.existing.Add(1)
		p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Skipped})
		return true, nil
	}

	var session *url.URL // an upload session a failed mount opened
	if mount {
		var mounted bool
		err := r.Retry(ctx, func() error {
			var err error
			mounted, session, err = r.MountBlob(ctx, b.digest, from)
			return err
		})
		switch {
		case err == nil && mounted:
			p.mounted.Add(1)
			p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Mounted})
			return true, nil
		case ctx.Err() != nil:
			return false, ctx.Err()
		}
		// Not mountable (no access, gone, or unsupported): upload it.
	}
	if !upload {
		return false, nil
	}
	if p.opts.ForbidLayerUpload && b.kind == "layer" {
		err := fmt.Errorf("forbid_layer_push: refusing to upload %s to %s: the registry lacks it, and this push may only mount layers or find them there "+
			"(push them at build time first, or set forbid_layer_push = \"disabled\")", b.what(), p.target)
		p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Done, Err: err})
		return false, err
	}

	p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Started})
	var sent int64
	onBytes := func(n int64) {
		atomic.AddInt64(&sent, n)
		p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Bytes, Bytes: n})
	}
	err = r.Retry(ctx, func() error {
		// Each attempt starts over: undo the previous attempt's count.
		if n := atomic.SwapInt64(&sent, 0); n != 0 {
			p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Bytes, Bytes: -n})
		}
		s := session
		session = nil // a retry needs a fresh session
		return r.UploadBlob(ctx, s, registry.Blob{Digest: b.digest, Size: b.size, Open: b.open}, onBytes)
	})
	if err != nil {
		if n := atomic.SwapInt64(&sent, 0); n != 0 {
			p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Bytes, Bytes: -n})
		}
		err = explain(r, err, "uploading "+b.what()+" to "+p.target)
		p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Done, Err: err})
		return false, err
	}
	p.uploaded.Add(1)
	p.bytes.Add(b.size)
	p.rep.Blob(BlobEvent{Digest: b.digest, Size: b.size, Kind: Done})
	return true, nil
}

// complete reports whether every tag (without tags: the root digest)
// already names root. Any failure of a check means no.
func (p *pusher) complete(ctx context.Context, root string, rootType oci.MediaType, tags []string) bool {
	refs := tags
	if len(refs) == 0 {
		refs = []string{root}
	}
	for _, ref := range refs {
		if !p.r.HasManifest(ctx, ref, string(rootType), root) {
			return false
		}
	}
	return true
}

// manifestsTagged reports whether every manifest tag already names its manifest.
func (p *pusher) manifestsTagged(ctx context.Context, img *image.Image, tags [][]string) bool {
	for i, ts := range tags {
		m := img.Manifests[i]
		mt := oci.MediaTypeOf(m.MediaType, m.Raw, oci.MediaTypeManifest)
		for _, t := range ts {
			if !p.r.HasManifest(ctx, t, string(mt), m.Digest) {
				return false
			}
		}
	}
	return true
}

// manifest puts one manifest, index or tag, with retries.
func (p *pusher) manifest(ctx context.Context, ref string, mediaType oci.MediaType, digest string, raw []byte, what string) error {
	subject := ""
	if ref == digest {
		subject = oci.SubjectOf(raw)
	}
	// Any failure of the check just means the manifest is put.
	have := p.r.HasManifest(ctx, ref, string(mediaType), digest)
	if have && subject == "" {
		return nil
	}
	err := p.r.Retry(ctx, func() error {
		if subject != "" {
			return p.r.PutReferrer(ctx, referrerDescriptor(mediaType, digest, raw), raw, subject, !have)
		}
		return p.r.PutManifest(ctx, ref, string(mediaType), digest, raw)
	})
	if err != nil {
		return explain(p.r, err, "pushing "+what+" to "+p.target)
	}
	return nil
}

// referrerDescriptor is how a referrer is listed under its subject: its
// artifactType (else its config's media type) and its annotations.
func referrerDescriptor(mediaType oci.MediaType, digest string, raw []byte) oci.Descriptor {
	d := oci.Descriptor{MediaType: mediaType, Digest: digest, Size: int64(len(raw))}
	var doc oci.Document
	if json.Unmarshal(raw, &doc) == nil {
		d.ArtifactType, d.Annotations = doc.ArtifactType, doc.Annotations
		if d.ArtifactType == "" && doc.Config != nil {
			d.ArtifactType = string(doc.Config.MediaType)
		}
	}
	return d
}
