package deploy

import (
	"fmt"
	"strings"
)

// Strategy is how a push or load gets layer bytes to where they go. The
// Starlark side's table of the same values is img/private/common/strategies.bzl.
type Strategy string

// The strategies, in the order errors list them.
const (
	// Eager: the layers are runfiles of the target, read from disk.
	Eager Strategy = "eager"
	// Lazy: missing blobs stream from the Bazel remote cache.
	Lazy Strategy = "lazy"
	// CASRegistry: as lazy, into a registry that serves blobs out of the
	// CAS; the pusher announces the blobs first and sends only manifests.
	CASRegistry Strategy = "cas_registry"
	// BES: `bazel build` writes a push request that a Build Event Service
	// backend pushes from the CAS.
	BES Strategy = "bes"
)

var strategies = []Strategy{Eager, Lazy, CASRegistry, BES}

// ParseStrategy reads a spec's strategy; "" is eager.
func ParseStrategy(s string) (Strategy, error) {
	if s == "" {
		return Eager, nil
	}
	for _, x := range strategies {
		if string(x) == s {
			return x, nil
		}
	}
	names := make([]string, len(strategies))
	for i, x := range strategies {
		names[i] = string(x)
	}
	return "", fmt.Errorf("unknown strategy %q; use one of %s", s, strings.Join(names, ", "))
}

// Announces: the pusher tells the registry's blob cache endpoint about the
// blobs before it pushes the manifests.
func (s Strategy) Announces() bool { return s == CASRegistry }

// Streams: blobs are expected to come from the Bazel remote cache, so a
// missing cache is worth a warning.
func (s Strategy) Streams() bool { return s == Lazy }
