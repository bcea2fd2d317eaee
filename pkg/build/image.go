// Package build computes an image's config and manifest from layer metadata,
// a config spec and an optional base, and an index from manifests'
// descriptors; the bytes it writes are the image's identity, so every field
// order and default here is part of reproducibility.
package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rules-img/rules_img/pkg/compress"
	"github.com/rules-img/rules_img/pkg/oci"
	"github.com/rules-img/rules_img/pkg/soci"

	"github.com/rules-img/rules_img/pkg/stamp"
)

// DefaultCreated is the config's "created" when nothing sets it, so that
// builds are reproducible.
const DefaultCreated = "1970-01-01T00:00:00Z"

// Input is everything `img manifest` builds an image from. Only small
// JSON documents: layer blobs are described by their metadata.
type Input struct {
	Spec     ConfigSpec
	Fragment *oci.ImageConfig // nil: no config_fragment
	// FragmentBytes is config_fragment as it is, the config blob of an
	// artifact (Spec.Artifact); nil when there is none.
	FragmentBytes []byte
	Base          *Base           // nil: the image starts from scratch
	Subject       *oci.Descriptor // nil: the manifest refers to no other
	SociIndex     *oci.Descriptor // nil: the image has no SOCI index
	Platform      oci.Platform    // os, architecture and optional variant
	Layers        []oci.LayerMetadata
}

// Output is the result of Image: the exact bytes to write and the
// descriptor of the manifest.
type Output struct {
	Manifest   []byte
	Config     []byte
	Descriptor oci.Descriptor // of Manifest, with the platform
}

// Image computes the config and manifest of an image.
//
// The container config is merged in three steps: the base image's config,
// then the fragment, then the spec. At each step a set field replaces the
// previous value, except that Env and Labels are merged key by key and
// ExposedPorts and Volumes are unions. Setting an entrypoint (in the
// fragment or the spec) without setting cmd drops a cmd inherited from the
// base image, as Docker does, because a base's cmd holds arguments for the
// base's entrypoint.
//
// Env: inherited variables keep their order; spec variables replace a
// variable of the same name in place and are otherwise appended sorted by
// name (a decoded JSON object has no order). In spec values, $NAME and
// ${NAME} are replaced by the value NAME has before the spec applies (from
// the base or the fragment); references to anything else are left as
// written, and \$ writes a literal $.
//
// rootfs and history are always computed: the fragment's are ignored,
// because a fragment describes settings, not layers. The base's history
// comes first (one placeholder entry per base layer when the base has
// none), then one entry per layer.
func Image(in Input) (Output, error) {
	out, err := image(in)
	if err != nil {
		return out, err
	}
	if in.SociIndex != nil {
		// soci-snapshotter finds the SOCI index (v2) by this annotation.
		out, err = amend(out, func(m *oci.Manifest) {
			if m.Annotations == nil {
				m.Annotations = map[string]string{}
			}
			m.Annotations[soci.AnnotationIndexDigest] = in.SociIndex.Digest
		})
		if err != nil {
			return out, err
		}
	}
	if in.Subject == nil {
		return out, nil
	}
	return withSubject(out, *in.Subject)
}

// withSubject adds the subject to a built manifest. Only the fields that
// identify it are kept: a referrer names its subject, nothing more.
func withSubject(out Output, subject oci.Descriptor) (Output, error) {
	if err := oci.CheckDigest(subject.Digest); err != nil || !subject.MediaType.Valid() || subject.Size <= 0 {
		return Output{}, fmt.Errorf("subject: not the descriptor of an image (%s, %q, %d bytes)", subject.MediaType, subject.Digest, subject.Size)
	}
	return amend(out, func(m *oci.Manifest) {
		m.Subject = &oci.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	})
}

// amend changes a built manifest and describes it again.
func amend(out Output, change func(*oci.Manifest)) (Output, error) {
	var m oci.Manifest
	if err := json.Unmarshal(out.Manifest, &m); err != nil {
		return Output{}, err
	}
	change(&m)
	raw, err := oci.Marshal(m)
	if err != nil {
		return Output{}, err
	}
	desc := oci.DescriptorFor(oci.MediaTypeManifest, raw)
	desc.ArtifactType, desc.Platform = out.Descriptor.ArtifactType, out.Descriptor.Platform
	return Output{Manifest: raw, Config: out.Config, Descriptor: desc}, nil
}

func image(in Input) (Output, error) {
	if err := in.Platform.Check(); err != nil {
		return Output{}, err
	}
	if in.Spec.ArtifactType != "" && !oci.MediaType(in.Spec.ArtifactType).Valid() {
		return Output{}, fmt.Errorf("artifact_type %q is not a media type: want type/subtype, e.g. application/spdx+json", in.Spec.ArtifactType)
	}
	if in.Spec.Artifact() {
		return artifact(in)
	}
	cfg := oci.ImageConfig{
		Architecture: in.Platform.Architecture,
		OS:           in.Platform.OS,
		Variant:      in.Platform.Variant,
		RootFS:       oci.RootFS{Type: "layers", DiffIDs: []string{}},
	}
	layers, inheritedCmd, err := fromBase(&cfg, in.Base, in.Platform)
	if err != nil {
		return Output{}, err
	}
	created, set := applyFragment(&cfg, in.Fragment)
	s := in.Spec
	if s.Created != "" {
		created = s.Created
	}
	if _, err := time.Parse(time.RFC3339Nano, created); err != nil {
		return Output{}, fmt.Errorf("bad created time %q: want RFC 3339, e.g. %s", created, DefaultCreated)
	}
	cfg.Created = created
	if err := applySpec(&cfg.Config, s, set, inheritedCmd); err != nil {
		return Output{}, err
	}
	if layers, err = appendLayers(&cfg, layers, in.Layers, s.Target); err != nil {
		return Output{}, err
	}

	configBytes, err := oci.Marshal(cfg)
	if err != nil {
		return Output{}, err
	}
	return output(s.ArtifactType, oci.DescriptorFor(oci.MediaTypeConfig, configBytes), configBytes, layers, maps.Clone(s.Annotations), cfg.Platform())
}

// output writes the manifest of config and layers and its descriptor, which
// carries the platform (for an index) and the artifact type.
func output(artifactType string, config oci.Descriptor, configBytes []byte, layers []oci.Descriptor, annotations map[string]string, p oci.Platform) (Output, error) {
	manifestBytes, err := oci.Marshal(oci.Manifest{
		SchemaVersion: 2,
		MediaType:     oci.MediaTypeManifest,
		ArtifactType:  artifactType,
		Config:        config,
		Layers:        layers,
		Annotations:   annotations,
	})
	if err != nil {
		return Output{}, err
	}
	desc := oci.DescriptorFor(oci.MediaTypeManifest, manifestBytes)
	desc.ArtifactType = artifactType
	desc.Platform = &p
	return Output{Manifest: manifestBytes, Config: configBytes, Descriptor: desc}, nil
}

// fromBase starts cfg from the base image's config: platform details,
// container config, diffIDs and history. It returns the base's layers and
// whether the base set a cmd.
func fromBase(cfg *oci.ImageConfig, b *Base, platform oci.Platform) ([]oci.Descriptor, bool, error) {
	if b == nil {
		return nil, false, nil
	}
	bc := b.Config
	if !platform.Takes(bc.Platform()) {
		return nil, false, fmt.Errorf("base image %s is for %s, not %s", b.ConfigFile, bc.Platform(), platform)
	}
	if cfg.Variant == "" {
		cfg.Variant = bc.Variant
	}
	cfg.OSVersion, cfg.OSFeatures = bc.OSVersion, slices.Clone(bc.OSFeatures)
	cfg.Config = cloneContainerConfig(bc.Config)
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, bc.RootFS.DiffIDs...)
	cfg.History = slices.Clone(bc.History)
	if len(cfg.History) == 0 {
		for range bc.RootFS.DiffIDs {
			cfg.History = append(cfg.History, oci.History{Created: bc.Created, CreatedBy: "rules_img: layer of the base image"})
		}
	}
	return slices.Clone(b.Manifest.Layers), bc.Config.Cmd != nil, nil
}

// launchSet says whether the fragment or the spec set the entrypoint or the
// cmd, which decides whether an inherited cmd survives.
type launchSet struct{ entrypoint, cmd bool }

// applyFragment lays the config fragment over cfg and returns the created
// time it sets (DefaultCreated when none).
func applyFragment(cfg *oci.ImageConfig, f *oci.ImageConfig) (string, launchSet) {
	created := DefaultCreated
	if f == nil {
		return created, launchSet{}
	}
	if f.Created != "" {
		created = f.Created
	}
	cfg.Author = f.Author
	if f.OSVersion != "" {
		cfg.OSVersion = f.OSVersion
	}
	if f.OSFeatures != nil {
		cfg.OSFeatures = slices.Clone(f.OSFeatures)
	}
	overlayContainerConfig(&cfg.Config, f.Config)
	return created, launchSet{entrypoint: f.Config.Entrypoint != nil, cmd: f.Config.Cmd != nil}
}

// applySpec lays the spec's container settings over c.
func applySpec(c *oci.ContainerConfig, s ConfigSpec, set launchSet, inheritedCmd bool) error {
	if s.Entrypoint != nil {
		c.Entrypoint, set.entrypoint = expandInherit(*s.Entrypoint, c.Entrypoint), true
	}
	if s.Cmd != nil {
		c.Cmd, set.cmd = expandInherit(*s.Cmd, c.Cmd), true
	}
	if set.entrypoint && !set.cmd && inheritedCmd {
		c.Cmd = nil
	}
	if len(s.Env) > 0 {
		before := envLookup(c.Env)
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			if k == "" || strings.Contains(k, "=") {
				return fmt.Errorf("bad env name %q: use letters, digits and _, not starting with a digit", k)
			}
			c.Env = setEnv(c.Env, k, expandEnv(s.Env[k], before))
		}
	}
	if s.User != nil {
		c.User = *s.User
	}
	if s.WorkingDir != nil {
		c.WorkingDir = *s.WorkingDir
	}
	if s.StopSignal != nil {
		c.StopSignal = *s.StopSignal
	}
	if len(s.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, s.Labels)
	}
	for _, p := range s.ExposedPorts {
		port, err := parsePort(p)
		if err != nil {
			return err
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[port] = struct{}{}
	}
	for _, v := range s.Volumes {
		if v == "" {
			return errors.New("empty volume path")
		}
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		c.Volumes[v] = struct{}{}
	}
	return nil
}

// appendLayers adds the image's own layers after the base's: descriptors,
// diffIDs and one history entry each, created by rules_img and the target.
func appendLayers(cfg *oci.ImageConfig, layers []oci.Descriptor, own []oci.LayerMetadata, target string) ([]oci.Descriptor, error) {
	createdBy := "rules_img"
	if target != "" {
		createdBy += " " + target
	}
	for i, l := range own {
		d, err := layerDescriptor(i, l, true)
		if err != nil {
			return nil, err
		}
		layers = append(layers, d)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		cfg.History = append(cfg.History, oci.History{Created: cfg.Created, CreatedBy: createdBy})
	}
	if layers == nil {
		layers = []oci.Descriptor{} // "layers": [] rather than null
	}
	return layers, nil
}

// layerDescriptor checks the metadata of the image's layer i (and its
// diffID, where the config lists it) and returns the layer's descriptor.
func layerDescriptor(i int, l oci.LayerMetadata, withDiffID bool) (oci.Descriptor, error) {
	if err := oci.CheckDigest(l.Digest); err != nil {
		return oci.Descriptor{}, fmt.Errorf("layer %d: %w: %s", i+1, err, oci.MetadataFix)
	}
	if err := oci.CheckDigest(l.DiffID); withDiffID && err != nil {
		return oci.Descriptor{}, fmt.Errorf("layer %d: diffID: %w: %s", i+1, err, oci.MetadataFix)
	}
	return oci.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size, Annotations: maps.Clone(l.Annotations)}, nil
}

func cloneContainerConfig(c oci.ContainerConfig) oci.ContainerConfig {
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	c.Env = slices.Clone(c.Env)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Cmd = slices.Clone(c.Cmd)
	c.Volumes = maps.Clone(c.Volumes)
	c.Labels = maps.Clone(c.Labels)
	c.Extra = maps.Clone(c.Extra)
	return c
}

// overlayContainerConfig applies the fields src sets onto dst.
// fillTemplates expands {{.KEY}} templates in the values of env, labels and
// annotations, and in created_timestamp, from the spec's vars (build
// settings) and, when stamping, the workspace status. Unstamped, a template
// that needs a status key is kept as written; a created time still holding
// one is dropped, which keeps the reproducible default.
func fillTemplates(s *ConfigSpec, status []string) error {
	var err error
	for _, m := range []struct {
		name   string
		values *map[string]string
	}{{"env", &s.Env}, {"labels", &s.Labels}, {"annotations", &s.Annotations}} {
		if *m.values, err = fillValues(m.name, *m.values, s.Vars, status); err != nil {
			return err
		}
	}
	if s.CreatedTimestamp != "" {
		created, err := fillValues("created_timestamp", map[string]string{"": s.CreatedTimestamp}, s.Vars, status)
		if err != nil {
			return err
		}
		if c := strings.TrimSpace(created[""]); c != "" && !stamp.HasTemplate(c) {
			s.Created = c
		}
	}
	return nil
}

// fillValues returns values with the templates of each filled in (values
// itself when none has one).
func fillValues(name string, values, settings map[string]string, status []string) (map[string]string, error) {
	var vars map[string]string
	var out map[string]string
	for k, v := range values {
		if !stamp.HasTemplate(v) {
			continue
		}
		if vars == nil {
			var err error
			if vars, err = stamp.ReadStatus(status...); err != nil {
				return nil, err
			}
			maps.Copy(vars, settings)
			out = maps.Clone(values)
		}
		filled, err := stamp.Fill(v, vars, len(status) > 0)
		if err != nil {
			if k == "" {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return nil, fmt.Errorf("%s[%q]: %w", name, k, err)
		}
		out[k] = filled
	}
	if out == nil {
		return values, nil
	}
	return out, nil
}

// InheritFromBase is the item of a spec's entrypoint or cmd that stands for
// the inherited list (rules_img's INHERIT_FROM_BASE). Its NUL byte keeps it
// apart from any real argument.
const InheritFromBase = "<inherit from base>\x00"

// expandInherit replaces each InheritFromBase item of set by the inherited
// list, so [INHERIT_FROM_BASE, "--verbose"] appends to the base's value. An
// empty set stays empty and non-nil: it unsets the field.
func expandInherit(set, inherited []string) []string {
	out := make([]string, 0, len(set))
	for _, v := range set {
		if v == InheritFromBase {
			out = append(out, inherited...)
			continue
		}
		out = append(out, v)
	}
	return out
}

func overlayContainerConfig(dst *oci.ContainerConfig, src oci.ContainerConfig) {
	if src.User != "" {
		dst.User = src.User
	}
	if src.WorkingDir != "" {
		dst.WorkingDir = src.WorkingDir
	}
	if src.StopSignal != "" {
		dst.StopSignal = src.StopSignal
	}
	if src.Entrypoint != nil {
		dst.Entrypoint = slices.Clone(src.Entrypoint)
	}
	if src.Cmd != nil {
		dst.Cmd = slices.Clone(src.Cmd)
	}
	for _, kv := range src.Env {
		k, v, _ := strings.Cut(kv, "=")
		dst.Env = setEnv(dst.Env, k, v)
	}
	dst.Labels = mergeMap(dst.Labels, src.Labels)
	dst.ExposedPorts = mergeMap(dst.ExposedPorts, src.ExposedPorts)
	dst.Volumes = mergeMap(dst.Volumes, src.Volumes)
	dst.Extra = mergeMap(dst.Extra, src.Extra)
}

func mergeMap[V any](dst, src map[string]V) map[string]V {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]V, len(src))
	}
	maps.Copy(dst, src)
	return dst
}

// setEnv replaces variable k in env in place, or appends it.
func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// envLookup snapshots env; the last definition of a name wins, as in execve.
func envLookup(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// expandEnv replaces $NAME and ${NAME} for names in vars. Unknown names stay
// as written, since they may be meant for a shell at run time.
func expandEnv(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i += 2
			continue
		case s[i] != '$' || i+1 == len(s):
			b.WriteByte(s[i])
			i++
			continue
		}
		// s[i] == '$' with at least one byte after it.
		name, end := "", i+1
		if s[i+1] == '{' {
			if j := strings.IndexByte(s[i+2:], '}'); j >= 0 {
				name, end = s[i+2:i+2+j], i+3+j
			}
		} else {
			j := i + 1
			for j < len(s) && isNameByte(s[j], j == i+1) {
				j++
			}
			name, end = s[i+1:j], j
		}
		if v, ok := vars[name]; ok && validName(name) {
			b.WriteString(v)
			i = end
			continue
		}
		b.WriteByte('$')
		i++
	}
	return b.String()
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !isNameByte(n[i], i == 0) {
			return false
		}
	}
	return true
}

// parsePort canonicalizes "80", "80/tcp", "53/UDP" to "<port>/<proto>".
func parsePort(s string) (string, error) {
	num, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 || num[0] == '+' {
		return "", fmt.Errorf("bad exposed port %q: want PORT or PORT/PROTOCOL with PORT 1-65535, e.g. 80/tcp", s)
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return "", fmt.Errorf("bad exposed port %q: protocol must be tcp, udp or sctp", s)
	}
	return strconv.Itoa(n) + "/" + proto, nil
}

// Base is an image to build on, known by its config and manifest only:
// its layers are referenced, never read.
type Base struct {
	Config       oci.ImageConfig
	Manifest     oci.Manifest // layers converted to OCI media types
	ConfigFile   string       // for messages
	ManifestFile string
}

// ReadBase reads a base image's config and manifest and checks that
// they belong together.
func ReadBase(configPath, manifestPath string) (*Base, error) {
	cb, err := os.ReadFile(configPath)
	if err != nil {
		return nil, fmt.Errorf("base config: %w", err)
	}
	mb, err := os.ReadFile(manifestPath)
	if err != nil {
		return nil, fmt.Errorf("base manifest: %w", err)
	}
	b := &Base{ConfigFile: configPath, ManifestFile: manifestPath}
	var probe struct {
		MediaType oci.MediaType   `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(mb, &probe); err != nil {
		return nil, fmt.Errorf("base manifest %s: %w", manifestPath, err)
	}
	switch {
	case probe.Manifests != nil || probe.MediaType.IsIndex():
		return nil, fmt.Errorf("base manifest %s is an index: pass the manifest of one platform", manifestPath)
	case probe.MediaType != "" && !probe.MediaType.IsManifest():
		return nil, fmt.Errorf("base manifest %s has media type %q, not an image manifest", manifestPath, probe.MediaType)
	}
	if err := json.Unmarshal(mb, &b.Manifest); err != nil {
		return nil, fmt.Errorf("base manifest %s: %w", manifestPath, err)
	}
	if got := oci.Digest(cb); b.Manifest.Config.Digest != got {
		return nil, fmt.Errorf("base config %s has digest %s but base manifest %s references config %s", configPath, got, manifestPath, b.Manifest.Config.Digest)
	}
	if err := json.Unmarshal(cb, &b.Config); err != nil {
		return nil, fmt.Errorf("base config %s: %w", configPath, err)
	}
	if n, m := len(b.Manifest.Layers), len(b.Config.RootFS.DiffIDs); n != m {
		return nil, fmt.Errorf("base manifest %s has %d layers but base config %s has %d diff_ids", manifestPath, n, configPath, m)
	}
	for i := range b.Manifest.Layers {
		l := &b.Manifest.Layers[i]
		if err := oci.CheckDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("base manifest %s: layer %d: %w", manifestPath, i+1, err)
		}
		l.MediaType = compress.ToOCI(l.MediaType)
	}
	return b, nil
}

// ImageFiles names the inputs and outputs of `img manifest`.
type ImageFiles struct {
	Layers       []string // layer metadata files, in order
	Spec         string   // config spec; empty means an empty spec
	BaseConfig   string   // optional, together with BaseManifest
	BaseManifest string
	Platform     oci.Platform
	// Status are Bazel's workspace status files, given when the build is
	// stamped: templates in env, labels and annotations may use their keys.
	Status []string
	// Outputs.
	Manifest, Config, Descriptor string
}

// WriteImage reads the files f names, builds the image and writes the
// manifest, config and descriptor; all three or none. Errors start with
// the spec's target.
func WriteImage(f ImageFiles) error {
	var in Input
	if f.Spec != "" {
		s, err := ReadConfigSpec(f.Spec)
		if err != nil {
			return err
		}
		in.Spec = s
	}
	who := in.Spec.Target
	if who == "" {
		who = "image"
	}
	fail := func(err error) error { return fmt.Errorf("%s: %w", who, err) }

	in.Platform = f.Platform
	if err := f.Platform.Check(); err != nil {
		return fail(err)
	}
	for _, p := range f.Layers {
		m, err := oci.ReadLayerMetadata(p)
		if err != nil {
			return fail(err)
		}
		in.Layers = append(in.Layers, m)
	}
	if err := fillTemplates(&in.Spec, f.Status); err != nil {
		return fail(err)
	}
	// After the templates: a file's values are taken as they are.
	if err := in.Spec.readFiles(); err != nil {
		return fail(err)
	}
	if in.Spec.CreatedFile != "" {
		b, err := os.ReadFile(in.Spec.CreatedFile)
		if err != nil {
			return fail(fmt.Errorf("created: %w", err))
		}
		in.Spec.Created = strings.TrimSpace(string(b))
		if in.Spec.Created == "" {
			return fail(fmt.Errorf("created: %s is empty: it must hold an RFC 3339 time such as %s", in.Spec.CreatedFile, DefaultCreated))
		}
	}
	if in.Spec.ConfigFragment != "" && in.Spec.Artifact() {
		b, err := os.ReadFile(in.Spec.ConfigFragment)
		if err != nil {
			return fail(fmt.Errorf("config fragment: %w", err))
		}
		in.FragmentBytes = b
	} else if in.Spec.ConfigFragment != "" {
		frag, err := ReadConfigFragment(in.Spec.ConfigFragment)
		if err != nil {
			return fail(err)
		}
		in.Fragment = &frag
	}
	if (f.BaseConfig == "") != (f.BaseManifest == "") {
		return fail(errors.New("a base image needs both its config and its manifest"))
	}
	if f.BaseConfig != "" {
		b, err := ReadBase(f.BaseConfig, f.BaseManifest)
		if err != nil {
			return fail(err)
		}
		in.Base = b
	}
	if in.Spec.Subject != "" {
		d, err := oci.ReadDescriptor(in.Spec.Subject)
		if err != nil {
			return fail(fmt.Errorf("subject: %w", err))
		}
		in.Subject = &d
	}
	if in.Spec.SociIndex != "" {
		// An empty file: no layer got a ztoc, so there is no SOCI index.
		b, err := os.ReadFile(in.Spec.SociIndex)
		if err != nil {
			return fail(fmt.Errorf("SOCI index: %w", err))
		}
		if len(b) > 0 {
			d, err := oci.ParseDescriptor(b, in.Spec.SociIndex)
			if err != nil {
				return fail(fmt.Errorf("SOCI index: %w", err))
			}
			in.SociIndex = &d
		}
	}
	img, err := Image(in)
	if err != nil {
		return fail(err)
	}
	desc, err := oci.Marshal(img.Descriptor)
	if err != nil {
		return fail(err)
	}
	if err := writeAll(
		outputFile{f.Config, img.Config},
		outputFile{f.Manifest, img.Manifest},
		outputFile{f.Descriptor, desc},
	); err != nil {
		return fail(err)
	}
	return nil
}
