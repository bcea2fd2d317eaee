package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
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

// protocolError is a registry answer that breaks the protocol, described by
// the request that got it; it needs no more explaining.
type protocolError string

func (e protocolError) Error() string { return string(e) }

// advice is what a message tells the user to do, by direction.
type advice struct {
	auth, denied, rateLimit, insecure string
}

var advices = map[Direction]advice{
	Pull: {
		auth:      "check the credentials in $DOCKER_CONFIG/config.json or your credential helper, or set docker_config_path / credential_helper on the pull",
		denied:    "check the repository name and that these credentials may pull it",
		rateLimit: "retry later, or pull with credentials for a higher limit",
		insecure:  "use insecure = True only for plain-HTTP registries you trust",
	},
	Push: {
		auth:      "log in (docker login %[1]s) or configure a credential helper",
		denied:    "check the repository name and that these credentials may push to it",
		rateLimit: "retry later",
		insecure:  "use insecure only for plain-HTTP registries you trust",
	},
}

// Explain turns a transport failure into one message that starts with
// subject (the client's label when "") and says what to do. Nothing of a
// request but method, host and path is quoted, so neither credentials nor
// signed upload URLs leak. A cancellation passes through.
func (r *Repo) Explain(err error, subject string) error {
	prefix := subject
	if prefix == "" {
		prefix = r.label
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	var pe protocolError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	reg := r.reg.RegistryStr()
	adv := advices[r.dir]
	creds := "from the given keychain"
	if sd, ok := r.keychain.(sourceDescriber); ok {
		creds = sd.Source(reg)
	}
	attempts := r.policy.Attempts

	var te *transport.Error
	if errors.As(err, &te) {
		detail := regerr.Diagnostics(te)
		switch {
		case te.StatusCode == http.StatusUnauthorized || regerr.HasCode(te, transport.UnauthorizedErrorCode):
			return fmt.Errorf("%s: authentication failed for %s (HTTP %d%s; credentials: %s): %s",
				prefix, reg, te.StatusCode, detail, creds, fmt.Sprintf(adv.auth, reg))
		case r.dir == Push && (te.StatusCode == http.StatusForbidden || regerr.HasCode(te, transport.DeniedErrorCode)):
			return fmt.Errorf("%s: %s denied the push (HTTP %d%s; credentials: %s): %s",
				prefix, reg, te.StatusCode, detail, creds, adv.denied)
		case te.StatusCode == http.StatusForbidden || regerr.HasCode(te, transport.DeniedErrorCode):
			return fmt.Errorf("%s: access to %s denied by %s (HTTP %d%s; credentials: %s): %s",
				prefix, r.repo.RepositoryStr(), reg, te.StatusCode, detail, creds, adv.denied)
		case r.dir == Push && regerr.HasCode(te, transport.NameUnknownErrorCode):
			return fmt.Errorf("%s: %s does not know repository %s (HTTP %d%s): create it first, or check the name",
				prefix, reg, r.repo.RepositoryStr(), te.StatusCode, detail)
		case te.StatusCode == http.StatusNotFound || regerr.HasCode(te, transport.ManifestUnknownErrorCode) ||
			regerr.HasCode(te, transport.BlobUnknownErrorCode) || regerr.HasCode(te, transport.NameUnknownErrorCode):
			return fmt.Errorf("%s: not found on %s (HTTP %d%s): check repository and digest", prefix, reg, te.StatusCode, detail)
		case te.StatusCode == http.StatusTooManyRequests || regerr.HasCode(te, transport.TooManyRequestsErrorCode):
			return fmt.Errorf("%s: %s is rate limiting requests (HTTP %d%s), still after %d attempts: %s",
				prefix, reg, te.StatusCode, detail, attempts, adv.rateLimit)
		case te.StatusCode >= 500:
			return fmt.Errorf("%s: %s failed with HTTP %d%s, still after %d attempts: the registry has a problem; retry later",
				prefix, reg, te.StatusCode, detail, attempts)
		}
		return fmt.Errorf("%s: %s answered HTTP %d%s", prefix, reg, te.StatusCode, detail)
	}

	if regerr.IsTLS(err) {
		return fmt.Errorf("%s: TLS error talking to %s: %v: fix the registry's certificate or the trust store; %s",
			prefix, reg, regerr.Innermost(err), adv.insecure)
	}
	if regerr.IsRedirectLoop(err) {
		return fmt.Errorf("%s: %s redirects in a loop (gave up after 10 redirects): check the registry address; a proxy or login page may be in front of the registry", prefix, reg)
	}
	if regerr.IsNotJSON(err) {
		return fmt.Errorf("%s: %s (or its token service) answered with something other than JSON, likely an HTML page: check the registry address; a proxy or login page may be in front of the registry", prefix, reg)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%s: %s speaks plain HTTP, not HTTPS: %s", prefix, reg, adv.insecure)
	}
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: cannot connect to %s: connection refused: is the registry running and is the address right?", prefix, reg)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%s: cannot resolve %s: %v: check the registry name and your network", prefix, reg, dnsErr)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return fmt.Errorf("%s: cannot reach %s: %v: check your network", prefix, reg, regerr.Innermost(err))
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%s: timed out talking to %s, still after %d attempts: %v", prefix, reg, attempts, regerr.Innermost(err))
	case Retryable(err):
		return fmt.Errorf("%s: connection to %s broke, still after %d attempts: %v", prefix, reg, attempts, regerr.Innermost(err))
	}
	return fmt.Errorf("%s: talking to %s: %w", prefix, reg, regerr.OneLine(redact(err)))
}

// redact rewrites a url.Error without the query, which for upload
// sessions may hold signed state.
func redact(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return ue.Err
	}
	return fmt.Errorf("%s %s%s: %w", ue.Op, u.Host, u.Path, ue.Err)
}
