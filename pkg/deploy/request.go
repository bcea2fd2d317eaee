package deploy

import (
	"encoding/json"
	"fmt"
)

// RequestSuffix ends the name of every push request file, which is how a
// Build Event Service backend tells them from a target's other outputs.
const RequestSuffix = ".img_push.json"

// Request turns a push spec read by ReadSpec (in a build action, so its
// stamp, destination and tag files are already applied) into a push request:
// the same spec with the bytes of its manifests, configs, descriptors, index
// and layer metadata inline. Layer blobs stay out; whoever runs the request
// opens them by digest from the CAS the build used, or from the base image's
// registry. Nothing in it depends on the machine that wrote it, so the bytes
// are the same wherever the action runs.
func (s *Spec) Request() ([]byte, error) {
	if s.Operation != "push" {
		return nil, fmt.Errorf("%s: only a push has a push request, not a %s", s.Label, s.Operation)
	}
	r := *s
	r.Stamped, r.DestinationFile, r.TagFile = "", "", ""
	// Another push's spec is a file of this machine; mounting from it is
	// only ever a saving.
	r.CrossMountFrom = ""
	r.Strategy = BES
	r.RemoteCache, r.RemoteInstance, r.CredentialHelper, r.RegistryCredentialHelper = "", "", "", ""
	if s.SourceAccess != nil {
		// A docker config path names a file on the build machine; the
		// backend uses its own credentials.
		r.SourceAccess = &Access{CredentialHelper: s.SourceAccess.CredentialHelper, Insecure: s.SourceAccess.Insecure}
	}
	if s.Sign != nil {
		// Whether and what to sign travels; the plugin is the backend's.
		r.Sign = &SignSpec{Mode: s.Sign.Mode, Config: s.Sign.Config, Targets: s.Sign.Targets}
	}
	r.Inline = map[string][]byte{}
	add := func(p string) error {
		if p == "" {
			return nil
		}
		b, err := s.read(p)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Label, err)
		}
		r.Inline[p] = b
		return nil
	}
	inline := func(is ImageSpec) (ImageSpec, error) {
		if err := add(is.Index); err != nil {
			return is, err
		}
		out := ImageSpec{Index: is.Index}
		for _, ms := range is.Manifests {
			for _, p := range []string{ms.Manifest, ms.Config, ms.Descriptor} {
				if err := add(p); err != nil {
					return is, err
				}
			}
			if ms.Soci != nil {
				for _, p := range append([]string{ms.Soci.Manifest, ms.Soci.Config}, ms.Soci.Ztocs...) {
					if err := add(p); err != nil {
						return is, err
					}
				}
			}
			m := ms
			m.Layers = nil
			for _, ls := range ms.Layers {
				if err := add(ls.Metadata); err != nil {
					return is, err
				}
				l := LayerSpec{Metadata: ls.Metadata}
				if ls.Compact != nil {
					// A compact layer's blob is in no CAS: the backend
					// rebuilds it from the stream and the CAS's contents.
					if err := add(ls.Compact.Stream); err != nil {
						return is, err
					}
					l.Compact = &CompactSpec{Stream: ls.Compact.Stream}
				}
				m.Layers = append(m.Layers, l)
			}
			out.Manifests = append(out.Manifests, m)
		}
		return out, nil
	}
	var err error
	if r.Image, err = inline(s.Image); err != nil {
		return nil, err
	}
	r.Referrers = nil
	for _, is := range s.Referrers {
		ri, err := inline(is)
		if err != nil {
			return nil, err
		}
		r.Referrers = append(r.Referrers, ri)
	}
	return json.MarshalIndent(&r, "", " ")
}
