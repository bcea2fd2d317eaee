package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/registry"
)

// Dedup is how a push shares blobs with the other pushes of its process
// (upstream rules_img's deduplicated_push).
type Dedup string

const (
	// DedupBestEffort uploads a blob several repositories need once and
	// mounts it into the rest; a refused mount falls back to uploading.
	DedupBestEffort Dedup = "best_effort"
	// DedupEnabled does the same, and a refused mount of a layer this deploy
	// placed for mounting fails the push instead of uploading it again.
	DedupEnabled Dedup = "enabled"
	// DedupDisabled pushes each image on its own.
	DedupDisabled Dedup = "disabled"
)

// ParseDedup reads a deduplicated_push value; "" is best effort.
func ParseDedup(s string) (Dedup, error) {
	switch d := Dedup(s); d {
	case "", DedupBestEffort:
		return DedupBestEffort, nil
	case DedupEnabled, DedupDisabled:
		return d, nil
	}
	return "", fmt.Errorf("deduplicated_push %q: use enabled, best_effort or disabled", s)
}

func (p *pusher) strict() bool { return p.opts.Dedup == DedupEnabled }

// mountOnly mounts a layer from the repository this deploy placed it in,
// and never sends its bytes: a refused mount is the registry's, named.
func (p *pusher) mountOnly(ctx context.Context, b *blob, from string) error {
	ok, err := p.place(ctx, b, from, true, false)
	if err != nil || ok {
		return err
	}
	return fmt.Errorf("refusing to upload %s to %s: it was uploaded to %q for mounting, so the registry refused to mount it from there "+
		"(it may not support cross-repository mounts, or the credentials may not read %q); "+
		"use deduplicated_push = best_effort to upload it anyway, or disabled", b.what(), p.target, from, from)
}

// viaHome places a layer in the home repository once (the first push that
// needs it uploads it there), then mounts it into this push's repository.
func (p *pusher) viaHome(ctx context.Context, b *blob) error {
	home, err := p.homePusher(ctx)
	if err != nil {
		return err
	}
	reg := p.r.Registry().RegistryStr()
	for attempt := 0; ; attempt++ {
		mine, theirs := p.shared.claim(reg, b.digest)
		if mine != nil {
			mine.strict = p.strict()
			_, err := home.place(ctx, b, "", false, true)
			if err == nil && p.opts.ArtificialManifests {
				err = home.artificialManifest(ctx, b)
			}
			placed := ""
			if err == nil {
				placed = home.r.Name()
			}
			p.shared.finish(reg, b.digest, mine, placed)
			if err != nil {
				if p.strict() {
					return err
				}
				// best_effort: the layer goes the ordinary way.
				fmt.Fprintf(p.warnings(), "%s: placing %s in %s failed, pushing it directly: %v\n", p.opts.Label, b.what(), home.target, err)
				_, err := p.place(ctx, b, "", false, true)
				return err
			}
			theirs = mine
		}
		repo, err := theirs.wait(ctx)
		if err != nil {
			return err
		}
		switch {
		case repo == p.r.Name():
			_, err := p.place(ctx, b, "", false, true)
			return err
		case repo != "" && p.strict() && theirs.strict:
			return p.mountOnly(ctx, b, repo)
		case repo != "":
			_, err := p.place(ctx, b, repo, true, true)
			return err
		case attempt > 0:
			_, err := p.place(ctx, b, "", false, true)
			return err
		}
		p.shared.forget(reg, b.digest, theirs)
	}
}

func (p *pusher) homePusher(ctx context.Context) (*pusher, error) {
	p.homeOnce.Do(func() {
		if p.opts.HomeRepository == p.r.Name() {
			p.home = p
			return
		}
		r, err := registry.Open(ctx, p.opts.Registry, p.opts.HomeRepository, registry.Options{
			Direction: registry.Push, Keychain: p.opts.Keychain, Insecure: p.opts.Insecure, Conns: p.jobs + 2, Gateway: p.opts.Gateway,
		})
		if err != nil {
			p.homeErr = fmt.Errorf("deduplicated_push_blob_repository: %w", err)
			return
		}
		// Bytes sent to the home repository count as this push's.
		p.home = &pusher{r: r, rep: p.rep, target: r.Label(), opts: p.opts, jobs: p.jobs}
	})
	return p.home, p.homeErr
}

// artificialManifest writes, untagged, a one-layer manifest of b in this
// repository, for registries that share a blob only once a manifest
// references it. Its bytes depend on the layer alone, so a second deploy
// finds it there.
func (p *pusher) artificialManifest(ctx context.Context, b *blob) error {
	diffIDs := []string{}
	if b.diffID != "" {
		diffIDs = []string{b.diffID}
	}
	// An image config that runs nowhere; OCI's empty config when there is
	// no diff ID to record (Docker's manifests have no empty config).
	config, _ := json.Marshal(map[string]any{
		"architecture": "unknown",
		"os":           "unknown",
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	manifestType, configType := oci.MediaTypeManifest, oci.MediaTypeConfig
	switch {
	case strings.HasPrefix(string(b.mediaType), "application/vnd.docker."):
		manifestType, configType = oci.MediaTypeDockerManifest, oci.MediaTypeDockerConfig
	case b.diffID == "":
		configType, config = oci.MediaTypeEmpty, []byte("{}")
	}
	cfg := &blob{digest: oci.Digest(config), size: int64(len(config)), mediaType: configType, kind: "config", open: bytesOpener(config)}
	if _, err := p.place(ctx, cfg, "", false, true); err != nil {
		return err
	}
	raw, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     manifestType,
		"config":        map[string]any{"mediaType": configType, "digest": cfg.digest, "size": cfg.size},
		"layers":        []map[string]any{{"mediaType": b.mediaType, "digest": b.digest, "size": b.size}},
		"annotations":   map[string]string{"org.rules_img.shared-blob": b.digest},
	})
	if err != nil {
		return err
	}
	d := oci.Digest(raw)
	return p.manifest(ctx, d, manifestType, d, raw, fmt.Sprintf("manifest %s that shares %s", d, b.what()))
}

func (p *pusher) warnings() io.Writer {
	if p.opts.Warnings == nil {
		return io.Discard
	}
	return p.opts.Warnings
}

func bytesOpener(b []byte) image.Opener {
	return func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}
