package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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
		detail := diagnostics(te)
		switch {
		case te.StatusCode == http.StatusUnauthorized || hasCode(te, transport.UnauthorizedErrorCode):
			return fmt.Errorf("%s: authentication failed for %s (HTTP %d%s; credentials: %s): check the credentials in $DOCKER_CONFIG/config.json or your credential helper, or set docker_config_path / credential_helper on the pull",
				prefix, reg, te.StatusCode, detail, creds)
		case te.StatusCode == http.StatusForbidden || hasCode(te, transport.DeniedErrorCode):
			return fmt.Errorf("%s: access to %s denied by %s (HTTP %d%s; credentials: %s): check the repository name and that these credentials may pull it",
				prefix, c.repo.RepositoryStr(), reg, te.StatusCode, detail, creds)
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode) ||
			hasCode(te, transport.BlobUnknownErrorCode) || hasCode(te, transport.NameUnknownErrorCode):
			return fmt.Errorf("%s: not found on %s (HTTP %d%s): check repository and digest", prefix, reg, te.StatusCode, detail)
		case te.StatusCode == http.StatusTooManyRequests || hasCode(te, transport.TooManyRequestsErrorCode):
			return fmt.Errorf("%s: %s is rate limiting requests (HTTP %d%s), still after %d attempts: retry later, or pull with credentials for a higher limit",
				prefix, reg, te.StatusCode, detail, maxAttempts)
		case te.StatusCode >= 500:
			return fmt.Errorf("%s: %s failed with HTTP %d%s, still after %d attempts: the registry has a problem; retry later",
				prefix, reg, te.StatusCode, detail, maxAttempts)
		}
		return fmt.Errorf("%s: %s answered HTTP %d%s", prefix, reg, te.StatusCode, detail)
	}

	if isTLSError(err) {
		return fmt.Errorf("%s: TLS error talking to %s: %v: fix the registry's certificate or the trust store; use insecure = True only for plain-HTTP registries you trust",
			prefix, reg, innermost(err))
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
		return fmt.Errorf("%s: cannot reach %s: %v: check your network", prefix, reg, innermost(err))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s: timed out talking to %s, still after %d attempts: %v", prefix, reg, maxAttempts, innermost(err))
	}
	if retryable(err) {
		return fmt.Errorf("%s: connection to %s broke, still after %d attempts: %v", prefix, reg, maxAttempts, innermost(err))
	}
	return fmt.Errorf("%s: talking to %s: %w", prefix, reg, err)
}

func hasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// diagnostics lists the registry's error codes and messages; never the
// request (a token URL) or raw body.
func diagnostics(te *transport.Error) string {
	var parts []string
	for _, d := range te.Errors {
		s := string(d.Code)
		if d.Message != "" {
			s += ": " + d.Message
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, "; ")
}

func isTLSError(err error) bool {
	var (
		unknownAuth *x509.UnknownAuthorityError
		hostname    x509.HostnameError
		hostnameP   *x509.HostnameError
		invalid     x509.CertificateInvalidError
		invalidP    *x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
		record      tls.RecordHeaderError
	)
	return errors.As(err, &unknownAuth) || errors.As(err, &hostname) || errors.As(err, &hostnameP) ||
		errors.As(err, &invalid) || errors.As(err, &invalidP) || errors.As(err, &verify) ||
		errors.As(err, &record) || strings.Contains(err.Error(), "tls: ")
}

// innermost drops the "Get \"https://...\": " wrapping of url.Error and
// net.OpError, which only repeats what the message already says.
func innermost(err error) error {
	for {
		if op, ok := err.(*net.OpError); ok && op.Err != nil {
			return op.Err
		}
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
