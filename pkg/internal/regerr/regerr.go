// Package regerr classifies and describes registry errors for the packages
// that talk to registries (pull and push), so both explain failures and
// decide retries the same way.
package regerr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
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
// message; ..."; never the request (a token or upload URL) or raw body.
func Diagnostics(te *transport.Error) string {
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
