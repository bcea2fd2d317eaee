package pull

import (
	"context"
	"errors"
	"fmt"
)

// explain adds the pull's own failures to the client's explanation: what
// names the document or blob, "" for the handshake. Digest mismatches are
// already explained.
func (c *client) explain(err error, what string) error {
	var dm *DigestMismatchError
	if errors.As(err, &dm) || errors.Is(err, context.Canceled) {
		return err
	}
	prefix := c.image
	if what != "" {
		prefix += ": " + what
	}
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("%s: %s sent more bytes than the descriptor's size, or over 4 MiB for a manifest: check the digest; this is not the document it names", prefix, c.Host())
	}
	return c.Explain(err, prefix)
}
