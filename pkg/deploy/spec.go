// Package deploy reads the deploy specs that image_push, image_load and
// multi_deploy write at build time, turns them into images whose blobs open
// from wherever the bytes are (runfiles, the Bazel remote cache, the base
// image's registry), and runs the operations.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rules-img/rules_img/pkg/internal/text"
)

// Spec is one push or load operation as the rule wrote it. Paths are
// relative to Root (the runfiles directory of the main repository, or the
// execution root for build actions).
type Spec struct {
	Operation string    `json:"operation"` // "push" or "load"
	Label     string    `json:"label"`     // the push or load target, for messages
	Image     ImageSpec `json:"image"`

	// Push and load: tags, possibly still holding {{.KEY}} stamp templates
	// when the build was not stamped.
	Tags []string `json:"tags,omitempty"`
	// Stamped names the file `img stamp` wrote at build time; its tags and
	// repository replace Tags and Repository.
	Stamped string `json:"stamped,omitempty"`
	// ManifestTags are tags of each manifest of an index, in index order:
	// from the stamp file, or inline in a push request.
	ManifestTags [][]string `json:"manifest_tags,omitempty"`
	// TagFile holds more tags, one per line (image_push's tag_file).
	TagFile string `json:"tag_file,omitempty"`

	// Push.
	Registry   string `json:"registry,omitempty"`
	Repository string `json:"repository,omitempty"`
	// DestinationFile holds "registry/repository" on one line (image_push's
	// destination_file); it replaces Registry and Repository.
	DestinationFile string `json:"destination_file,omitempty"`
	// Format "docker" pushes Docker's v2 schema 2 media types (rules_docker's
	// container_push format); "" or "oci" the image as built.
	Format string `json:"format,omitempty"`
	// DeduplicatedPush is enabled, best_effort ("") or disabled: how this
	// push shares blobs with the other pushes of the deploy (pkg/push.Dedup).
	DeduplicatedPush string `json:"deduplicated_push,omitempty"`
	// DedupBlobRepository pins the repository shared layers are uploaded to
	// and mounted from; DedupContent "blobs_and_artificial_manifests" also
	// writes a manifest referencing each of them there.
	DedupBlobRepository string `json:"deduplicated_push_blob_repository,omitempty"`
	DedupContent        string `json:"deduplicated_push_content,omitempty"`
	// CrossMount "disabled" never mounts base layers from their repository;
	// "" or "same_registry" does, within the destination registry.
	CrossMount string `json:"cross_mount,omitempty"`
	// CrossMountFrom names another push's deploy spec: layers its
	// repository holds are mounted from there (cross_mount_from).
	CrossMountFrom string `json:"cross_mount_from,omitempty"`
	// MountFrom lists repositories of the destination registry that layers
	// are mounted from when they hold them: where push at build time put
	// them (push_at_build_time_blob_repository).
	MountFrom []string `json:"mount_from,omitempty"`
	// ForbidLayerPush refuses to upload a layer's bytes: the registry must
	// have it already, or mount it (forbid_layer_push).
	ForbidLayerPush bool `json:"forbid_layer_push,omitempty"`
	// PushGateway and PullGateway send the requests for the destination and
	// for base images' registries to a registry gateway (build actions:
	// registry_push_gateway, registry_pull_gateway).
	PushGateway string `json:"registry_push_gateway,omitempty"`
	PullGateway string `json:"registry_pull_gateway,omitempty"`

	// Referrers are images whose manifest names this image (or one of its
	// manifests) as its subject, such as SBOMs: pushed by digest to the
	// same repository before the tags (image_push's referrers).
	Referrers []ImageSpec `json:"referrers,omitempty"`
	// Sign signs the pushed image before the tags; nil: not signed.
	Sign *SignSpec `json:"sign,omitempty"`

	// Push and load.
	Strategy         Strategy `json:"strategy,omitempty"`             // "" is eager
	RemoteCache      string   `json:"remote_cache,omitempty"`         // Bazel cache endpoint for lazy strategies
	RemoteInstance   string   `json:"remote_instance_name,omitempty"` // its REAPI instance name
	CredentialHelper string   `json:"credential_helper,omitempty"`    // Bazel credential helper for that cache
	// RegistryCredentialHelper is a Bazel credential helper asked first for
	// every registry (credential_helper_oci_registry); the docker config
	// decides where it answers nothing.
	RegistryCredentialHelper string `json:"registry_credential_helper,omitempty"`
	// CASDigestFunction is Bazel's --digest_function when not sha256 ("sha1"):
	// the cache keys blobs by it (layer metadata records each key).
	CASDigestFunction string `json:"cas_digest_function,omitempty"`

	// Load.
	Daemon string `json:"daemon,omitempty"` // auto, docker, containerd, podman, tar

	// SourceAccess says how the base image was pulled, for fetching its
	// layers; nil when the image has no pulled base.
	SourceAccess *Access `json:"source_access,omitempty"`

	// Inline holds the bytes of every file the spec names, keyed by the
	// name, in a push request (see Request): the spec is then whole without
	// a file system, for a Build Event Service backend that reads it from
	// the CAS.
	Inline map[string][]byte `json:"inline,omitempty"`

	// root is where relative paths resolve; set by ReadSpec.
	root string
}

// Access says how to reach a base image's registry: where credentials come
// from, never the credentials.
type Access struct {
	DockerConfig     string `json:"docker_config,omitempty"`     // a docker config.json; "": the default
	CredentialHelper string `json:"credential_helper,omitempty"` // docker-credential-NAME for every registry
	Insecure         bool   `json:"insecure,omitempty"`          // plain HTTP and unverified TLS allowed
}

// SignSpec is a signing_config as a push resolved it.
type SignSpec struct {
	Mode    string            `json:"mode"`              // enabled or best_effort
	Config  string            `json:"config"`            // the signing_config's label, for messages
	Tool    string            `json:"tool,omitempty"`    // a Bazel-built plugin: its path in the runfiles
	Command string            `json:"command,omitempty"` // or a command on PATH
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// Targets are what gets a signature: "roots" (the pushed image),
	// "child_manifests" (each manifest of an index), "referrers".
	Targets []string `json:"targets,omitempty"`
}

// ImageSpec names the files of a built image.
type ImageSpec struct {
	Index     string         `json:"index,omitempty"` // index JSON, when the image is an index
	Manifests []ManifestSpec `json:"manifests"`
}

// ManifestSpec names the files of one single-platform image.
type ManifestSpec struct {
	Manifest   string      `json:"manifest"`
	Config     string      `json:"config"`
	Descriptor string      `json:"descriptor"`
	Layers     []LayerSpec `json:"layers"`
	// Soci is the image's SOCI index, pushed before the image.
	Soci *SociSpec `json:"soci,omitempty"`
}

// SociSpec names the files of a SOCI index: its manifest and config, and
// the ztocs it may list. Empty files: no layer got a ztoc.
type SociSpec struct {
	Manifest string   `json:"manifest"`
	Config   string   `json:"config"`
	Ztocs    []string `json:"ztocs"`
}

// LayerSpec is one layer: its metadata, and the blob when the rule put it in
// the runfiles (eager strategy, layers built here).
type LayerSpec struct {
	Metadata string       `json:"metadata"`
	Blob     string       `json:"blob,omitempty"`
	Compact  *CompactSpec `json:"compact,omitempty"`
}

// CompactSpec is a compact layer (experimental_compact_layers): the blob
// is rebuilt from the stream, with the referenced contents from CAS (a
// directory in the runfiles) or else from the remote cache.
type CompactSpec struct {
	Stream string `json:"stream"`
	CAS    string `json:"cas,omitempty"`
}

// Stamp is what `img stamp` writes: the registry, repository and tags with
// their templates filled in.
type Stamp struct {
	Registry   string   `json:"registry,omitempty"`
	Repository string   `json:"repository,omitempty"`
	Tags       []string `json:"tags"`
	// ManifestTags holds, per manifest of an index, the tags that name that
	// manifest alone (image_push's manifest_tags).
	ManifestTags [][]string `json:"manifest_tags,omitempty"`
}

// ReadSpec reads a spec; its relative paths resolve against root.
func ReadSpec(path, root string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading deploy spec: %w", err)
	}
	return parseSpec(b, path, root)
}

// ParseRequest reads a push request (see Request); name is for messages.
func ParseRequest(b []byte, name string) (*Spec, error) {
	s, err := parseSpec(b, name, "")
	if err != nil {
		return nil, err
	}
	if s.Operation != "push" || s.Inline == nil {
		return nil, fmt.Errorf("%s (%s): not a push request: it has no inline files", name, s.Label)
	}
	// A backend pushes with its own credentials, and signs with its own
	// plugin: a program a build names is never run on the backend's machine.
	s.CredentialHelper, s.RegistryCredentialHelper = "", ""
	if s.Sign != nil {
		s.Sign.Tool, s.Sign.Command, s.Sign.Args, s.Sign.Env = "", "", nil, nil
	}
	return s, nil
}

func parseSpec(b []byte, path, root string) (*Spec, error) {
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: not a deploy spec: %w", path, err)
	}
	switch s.Operation {
	case "push", "load", "tarball":
	default:
		return nil, fmt.Errorf("%s: unknown operation %q", path, s.Operation)
	}
	if len(s.Image.Manifests) == 0 {
		return nil, fmt.Errorf("%s (%s): the image has no manifests", path, s.Label)
	}
	if _, err := ParseStrategy(string(s.Strategy)); err != nil {
		return nil, fmt.Errorf("%s (%s): %w", path, s.Label, err)
	}
	s.root = root
	if s.Stamped != "" {
		var st Stamp
		b, err := s.read(s.Stamped)
		if err != nil {
			return nil, fmt.Errorf("%s: reading stamped tags: %w", s.Label, err)
		}
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("%s: %s is not a stamp file: %w", s.Label, s.Stamped, err)
		}
		s.Tags = st.Tags
		s.ManifestTags = st.ManifestTags
		if st.Repository != "" {
			s.Repository = st.Repository
		}
		if st.Registry != "" {
			s.Registry = st.Registry
		}
	}
	if s.DestinationFile != "" {
		b, err := s.read(s.DestinationFile)
		if err != nil {
			return nil, fmt.Errorf("%s: reading destination_file: %w", s.Label, err)
		}
		dest := strings.TrimSpace(string(b))
		registry, repository, ok := strings.Cut(dest, "/")
		if !ok || registry == "" || repository == "" || strings.ContainsAny(dest, " \t\n") {
			return nil, fmt.Errorf("%s: destination_file %s holds %q: want one line REGISTRY/REPOSITORY, e.g. ghcr.io/team/app", s.Label, s.DestinationFile, text.Printable(dest, 200))
		}
		s.Registry, s.Repository = registry, repository
	}
	if s.TagFile != "" {
		b, err := s.read(s.TagFile)
		if err != nil {
			return nil, fmt.Errorf("%s: reading tag_file: %w", s.Label, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				s.Tags = append(s.Tags, t)
			}
		}
	}
	return &s, nil
}

// read returns the bytes of a file the spec names.
func (s *Spec) read(p string) ([]byte, error) {
	if s.Inline != nil {
		if b, ok := s.Inline[p]; ok {
			return b, nil
		}
		return nil, fmt.Errorf("%s: %w in the push request", p, os.ErrNotExist)
	}
	return os.ReadFile(s.path(p))
}

func (s *Spec) path(p string) string {
	if filepath.IsAbs(p) || s.root == "" {
		return p
	}
	return filepath.Join(s.root, p)
}
