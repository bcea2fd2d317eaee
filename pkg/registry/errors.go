package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
)

// sourceDescriber is implemented by pkg/auth's Keychain: it says where the
// credentials came from, without the credentials.
type sourceDescriber interface {
	Source(registry string) string
}

// explain turns a transport error into one message that names the image
// and says what to do. what names the document or blob, "" for the
// handshake. Errors that are already ours pass through.
func (c *client) explain(err error, what string) error {
	var dm *DigestMismatchError
	if errors.As(err, &dm) || errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, errTooLarge) {
		p := c.image
		if what != "" {
			p += ": " + what
		}
		return fmt.Errorf("%s: %s sent more bytes than the descriptor's size, or over 4 MiB for a manifest: check the digest; this is not the document it names", p, c.reg.RegistryStr())
	}
	reg := c.reg.RegistryStr()
	prefix := c.image
	if what != "" {
		prefix += ": " + what
	}
	creds := "anonymous"
	if sd, ok := c.keychain.(sourceDescriber); ok {
		creds = sd.Source(reg)
	}

	var te *transport.Error
	if errors.As(err, &te) {
		detail := regerr.Diagnostics(te)
		switch {
		case te.StatusCode == http.StatusUnauthorized || regerr.HasCode(te, transport.UnauthorizedErrorCode):
			return fmt.Errorf("%s: authentication failed for %s (HTTP %d%s; credentials: %s): check the credentials in $DOCKER_CONFIG/config.json or your credential helper, or set docker_config_path / credential_helper on the pull",
				prefix, reg, te.StatusCode, detail, creds)
		case te.StatusCode == http.StatusForbidden || regerr.HasCode(te, transport.DeniedErrorCode):
			return fmt.Errorf("%s: access to %s denied by %s (HTTP %d%s; credentials: %s): check the repository name and that these credentials may pull it",
				prefix, c.repo.RepositoryStr(), reg, te.StatusCode, detail, creds)
		case te.StatusCode == http.StatusNotFound || regerr.HasCode(te, transport.ManifestUnknownErrorCode) ||
			regerr.HasCode(te, transport.BlobUnknownErrorCode) || regerr.HasCode(te, transport.NameUnknownErrorCode):
			return fmt.Errorf("%s: not found on %s (HTTP %d%s): check repository and digest", prefix, reg, te.StatusCode, detail)
		case te.StatusCode == http.StatusTooManyRequests || regerr.HasCode(te, transport.TooManyRequestsErrorCode):
			return fmt.Errorf("%s: %s is rate limiting requests (HTTP %d%s), still after %d attempts: retry later, or pull with credentials for a higher limit",
				prefix, reg, te.StatusCode, detail, maxAttempts)
		case te.StatusCode >= 500:
			return fmt.Errorf("%s: %s failed with HTTP %d%s, still after %d attempts: the registry has a problem; retry later",
				prefix, reg, te.StatusCode, detail, maxAttempts)
		}
		return fmt.Errorf("%s: %s answered HTTP %d%s", prefix, reg, te.StatusCode, detail)
	}

	if regerr.IsTLS(err) {
		return fmt.Errorf("%s: TLS error talking to %s: %v: fix the registry's certificate or the trust store; use insecure = True only for plain-HTTP registries you trust",
			prefix, reg, regerr.Innermost(err))
	}
	if regerr.IsRedirectLoop(err) {
		return fmt.Errorf("%s: %s redirects in a loop (gave up after 10 redirects): check the registry address; a proxy or login page may be in front of the registry", prefix, reg)
	}
	if regerr.IsNotJSON(err) {
		return fmt.Errorf("%s: %s (or its token service) answered with something other than JSON, likely an HTML page: check the registry address; a proxy or login page may be in front of the registry", prefix, reg)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%s: %s speaks plain HTTP, not HTTPS: use insecure = True only for plain-HTTP registries you trust", prefix, reg)
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: cannot connect to %s: connection refused: is the registry running and is the address right?", prefix, reg)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%s: cannot resolve %s: %v: check the registry name and your network", prefix, reg, dnsErr)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%s: cannot reach %s: %v: check your network", prefix, reg, regerr.Innermost(err))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s: timed out talking to %s, still after %d attempts: %v", prefix, reg, maxAttempts, regerr.Innermost(err))
	}
	if retryable(err) {
		return fmt.Errorf("%s: connection to %s broke, still after %d attempts: %v", prefix, reg, maxAttempts, regerr.Innermost(err))
	}
	return fmt.Errorf("%s: talking to %s: %w", prefix, reg, regerr.OneLine(err))
}
