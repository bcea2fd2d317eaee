// Package regerr classifies and describes registry errors for the packages
// that talk to registries (pull and push), so both explain failures and
// decide retries the same way.
package regerr

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/internal/text"
)

// HasCode reports whether the registry's error body holds code.
func HasCode(te *transport.Error, code transport.ErrorCode) bool {
	for _, d := range te.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// Diagnostics lists the registry's error codes and messages as ", CODE:
// message; ..."; never the request (a token or upload URL) or raw body. A
// registry's text is untrusted: at most three errors, one short line each,
// without control characters.
func Diagnostics(te *transport.Error) string {
	var parts []string
	for i, d := range te.Errors {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(te.Errors)-i))
			break
		}
		s := text.Printable(string(d.Code), 40)
		if d.Message != "" {
			s += ": " + text.Printable(d.Message, 200)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, "; ")
}

// OneLine wraps err so that its message is one short printable line: the
// libraries below quote what servers sent (a token service's whole answer,
// with line breaks). A token answer without a token is summarised, never
// quoted: what it holds instead may be a credential.
func OneLine(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "no token in bearer response") {
		msg = "the token service answered without a token: check the credentials and the registry's token service"
	}
	return &oneLine{msg: text.Printable(msg, 300), err: err}
}

type oneLine struct {
	msg string
	err error
}

func (e *oneLine) Error() string { return e.msg }
func (e *oneLine) Unwrap() error { return e.err }

// IsRedirectLoop reports a request that net/http gave up on after too many
// redirects: a login page or a proxy that sends clients in circles.
func IsRedirectLoop(err error) bool {
	return strings.Contains(err.Error(), "stopped after 10 redirects")
}

// IsNotJSON reports an answer that should have been JSON (a token, an error
// body) and was not, typically an HTML page from a proxy or login portal.
func IsNotJSON(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || strings.Contains(err.Error(), "invalid character '<' looking for beginning of value")
}

// IsTLS reports a certificate or handshake failure.
func IsTLS(err error) bool {
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

// Innermost drops url.Error and net.OpError wrapping, which only repeats
// the method and address the message already names.
func Innermost(err error) error {
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

// Retryable: rate limits, server errors, timeouts and dropped connections;
// not auth, not-found, refused connections or TLS problems, which a retry
// won't fix.
func Retryable(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		if te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout || te.StatusCode >= 500 {
			return true
		}
		return HasCode(te, transport.TooManyRequestsErrorCode) || HasCode(te, transport.UnavailableErrorCode)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe") ||
		strings.HasSuffix(s, ": EOF") || strings.Contains(s, "http2: server sent GOAWAY")
}

// IsLoopback reports whether host[:port] names this machine; registries
// there may use plain HTTP without asking.
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
