package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/image"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
	"github.com/rules-img/rules_img/pkg/registry"
)

// explain adds the push's own failures to the client's explanation: a
// source that could not be read, and bytes that do not match their digest.
func explain(r *registry.Repo, err error, what string) error {
	var se *registry.SourceError
	if errors.As(err, &se) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode != http.StatusUnauthorized && te.StatusCode != http.StatusForbidden &&
		regerr.HasCode(te, transport.DigestInvalidErrorCode) {
		return fmt.Errorf("%s: %s found that the bytes sent do not match their digest (HTTP %d%s): %s",
			what, r.Host(), te.StatusCode, regerr.Diagnostics(te), image.ChangedOutput)
	}
	return r.Explain(err, what)
}
