package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Descriptor is an OCI content descriptor. Field order follows the spec so
// the JSON reads like what registries and other tools write.
type Descriptor struct {
	MediaType    MediaType         `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
	// Data embeds the content (base64 in JSON), as for an empty config.
	Data []byte `json:"data,omitempty"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int       `json:"schemaVersion"`
	MediaType     MediaType `json:"mediaType"`
	// ArtifactType is set on artifacts (SBOMs, charts, ...), not images.
	ArtifactType string       `json:"artifactType,omitempty"`
	Config       Descriptor   `json:"config"`
	Layers       []Descriptor `json:"layers"`
	// Subject makes the manifest a referrer of another (OCI 1.1): an SBOM
	// or a signature of the image it names.
	Subject     *Descriptor       `json:"subject,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Index is an OCI image index (also the shape of a layout's index.json).
type Index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     MediaType         `json:"mediaType"`
	Manifests     []Descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Document is a manifest or an index read before knowing which it is:
// Config is nil for an index, Manifests empty for a manifest.
type Document struct {
	MediaType    MediaType         `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Config       *Descriptor       `json:"config"`
	Layers       []Descriptor      `json:"layers"`
	Manifests    []Descriptor      `json:"manifests"`
	Subject      *Descriptor       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// ImageConfig is the OCI image config blob. Top-level fields the OCI spec
// does not define (Docker's "container_config", "docker_version", ...)
// describe how some other tool built an image and are dropped on read.
type ImageConfig struct {
	Created      string          `json:"created,omitempty"`
	Author       string          `json:"author,omitempty"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	OSVersion    string          `json:"os.version,omitempty"`
	OSFeatures   []string        `json:"os.features,omitempty"`
	Variant      string          `json:"variant,omitempty"`
	Config       ContainerConfig `json:"config,omitzero"`
	RootFS       RootFS          `json:"rootfs"`
	History      []History       `json:"history,omitempty"`
}

// RootFS lists the uncompressed digests of an image's layers, in order.
type RootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// History describes how one layer (or an empty step) came to be.
type History struct {
	Created    string `json:"created,omitempty"`
	CreatedBy  string `json:"created_by,omitempty"`
	Author     string `json:"author,omitempty"`
	Comment    string `json:"comment,omitempty"`
	EmptyLayer bool   `json:"empty_layer,omitempty"`
}

// ContainerConfig is the "config" object of an image config. Keys the OCI
// spec does not name (Healthcheck, Shell, OnBuild, ArgsEscaped, ...) are kept
// in Extra so that what a base image sets for Docker survives inheritance.
type ContainerConfig struct {
	User         string
	ExposedPorts map[string]struct{}
	Env          []string
	Entrypoint   []string
	Cmd          []string
	Volumes      map[string]struct{}
	WorkingDir   string
	Labels       map[string]string
	StopSignal   string
	// Extra holds unknown keys as compact JSON; written after the known ones,
	// sorted by key.
	Extra map[string]json.RawMessage
}

// containerConfigJSON fixes the order of the known keys in the output.
type containerConfigJSON struct {
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

var knownContainerKeys = []string{"User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal"}

// IsZero lets `omitzero` drop an empty config object.
func (c ContainerConfig) IsZero() bool {
	return c.User == "" && len(c.ExposedPorts) == 0 && len(c.Env) == 0 &&
		len(c.Entrypoint) == 0 && len(c.Cmd) == 0 && len(c.Volumes) == 0 &&
		c.WorkingDir == "" && len(c.Labels) == 0 && c.StopSignal == "" && len(c.Extra) == 0
}

func (c ContainerConfig) MarshalJSON() ([]byte, error) {
	known, err := Marshal(containerConfigJSON{
		User: c.User, ExposedPorts: c.ExposedPorts, Env: c.Env,
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Volumes: c.Volumes,
		WorkingDir: c.WorkingDir, Labels: c.Labels, StopSignal: c.StopSignal,
	})
	if err != nil || len(c.Extra) == 0 {
		return known, err
	}
	extra, err := Marshal(c.Extra) // map keys come out sorted
	if err != nil {
		return nil, err
	}
	if string(known) == "{}" {
		return extra, nil
	}
	// Splice: known fields first, then the extra ones.
	out := append(known[:len(known)-1:len(known)-1], ',')
	return append(out, extra[1:]...), nil
}

func (c *ContainerConfig) UnmarshalJSON(b []byte) error {
	var k containerConfigJSON
	if err := json.Unmarshal(b, &k); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*c = ContainerConfig{
		User: k.User, ExposedPorts: k.ExposedPorts, Env: k.Env,
		Entrypoint: k.Entrypoint, Cmd: k.Cmd, Volumes: k.Volumes,
		WorkingDir: k.WorkingDir, Labels: k.Labels, StopSignal: k.StopSignal,
	}
next:
	for key, v := range all {
		// encoding/json matches struct fields case-insensitively, so must we.
		for _, known := range knownContainerKeys {
			if strings.EqualFold(key, known) {
				continue next
			}
		}
		if string(v) == "null" {
			continue
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return err
		}
		if c.Extra == nil {
			c.Extra = map[string]json.RawMessage{}
		}
		c.Extra[key] = buf.Bytes()
	}
	return nil
}

// Marshal is json.Marshal without HTML escaping, so "<" in a label stays
// readable; the output is just as deterministic.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Digest returns the "sha256:<hex>" digest of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DescriptorFor describes b as a blob of the given media type.
func DescriptorFor(mediaType MediaType, b []byte) Descriptor {
	return Descriptor{MediaType: mediaType, Digest: Digest(b), Size: int64(len(b))}
}

// CheckDigest accepts only sha256 digests: that is all rules_img writes,
// and the layout code names blobs by it.
func CheckDigest(d string) error {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 || strings.ToLower(hexPart) != hexPart {
		return fmt.Errorf("digest %q is not sha256:<64 lowercase hex digits>", d)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return fmt.Errorf("digest %q is not sha256:<64 lowercase hex digits>", d)
	}
	return nil
}

// ReadDescriptor reads a descriptor file as written by `img manifest` or
// `img index`.
func ReadDescriptor(path string) (Descriptor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Descriptor{}, err
	}
	return ParseDescriptor(b, path)
}

// ParseDescriptor checks the bytes of a descriptor file; name is for
// messages.
func ParseDescriptor(b []byte, name string) (Descriptor, error) {
	var d Descriptor
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: not a descriptor: %w", name, err)
	}
	if d.MediaType == "" || d.Size <= 0 {
		return d, fmt.Errorf("%s: descriptor lacks mediaType or size", name)
	}
	if err := CheckDigest(d.Digest); err != nil {
		return d, fmt.Errorf("%s: %w", name, err)
	}
	return d, nil
}

// Platform returns the platform the config describes.
func (c ImageConfig) Platform() Platform {
	return Platform{Architecture: c.Architecture, OS: c.OS, OSVersion: c.OSVersion, OSFeatures: slices.Clone(c.OSFeatures), Variant: c.Variant}
}

// MediaTypeOf is a manifest's or index's media type: the declared one, else
// the document's own mediaType field, else def.
func MediaTypeOf(declared MediaType, raw []byte, def MediaType) MediaType {
	if declared != "" {
		return declared
	}
	var doc struct {
		MediaType MediaType `json:"mediaType"`
	}
	if json.Unmarshal(raw, &doc) == nil && doc.MediaType != "" {
		return doc.MediaType
	}
	return def
}

// SubjectOf is the digest of the manifest a manifest or index refers to
// (its subject), or "" for none.
func SubjectOf(raw []byte) string {
	var doc struct {
		Subject *Descriptor `json:"subject"`
	}
	if json.Unmarshal(raw, &doc) != nil || doc.Subject == nil {
		return ""
	}
	return doc.Subject.Digest
}
