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
	if err := add(s.Image.Index); err != nil {
		return nil, err
	}
	r.Image.Manifests = nil
	for _, ms := range s.Image.Manifests {
		for _, p := range []string{ms.Manifest, ms.Config, ms.Descriptor} {
			if err := add(p); err != nil {
				return nil, err
			}
		}
		m := ms
		m.Layers = nil
		for _, ls := range ms.Layers {
			if err := add(ls.Metadata); err != nil {
				return nil, err
			}
			m.Layers = append(m.Layers, LayerSpec{Metadata: ls.Metadata})
		}
		r.Image.Manifests = append(r.Image.Manifests, m)
	}
	return json.MarshalIndent(&r, "", " ")
}
