// Package registry is rules_img's one client for the OCI distribution API,
// for pulls and pushes alike: the transport and auth handshake, retries
// that honour Retry-After, the name rules, the blob and manifest requests,
// and failures explained in one line that says what to do. pkg/pull and
// pkg/push build their protocols on it.
package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/internal/regerr"
	"github.com/rules-img/rules_img/pkg/reference"
)

// Direction says what a client is for: it picks the token scope, the retry
// policy and the advice in error messages.
type Direction int

const (
	Pull Direction = iota
	Push
)

// Options configures Open.
type Options struct {
	Direction Direction
	Keychain  authn.Keychain // nil: anonymous
	// Insecure allows plain HTTP and skips TLS verification. Loopback
	// registries may use plain HTTP without it.
	Insecure bool
	// MountFrom lists repositories of the same registry that a push may
	// mount blobs from; the token asks to pull them too.
	MountFrom []string
	Conns     int    // idle connections kept to the registry; 0: Go's default
	Label     string // names the image in messages; "": registry/repository
	// Gateway, when set, receives every request instead of the registry; it
	// authenticates to the registry itself, so requests go without
	// credentials.
	Gateway *Gateway
}

// Repo is an authenticated client for one repository of one registry.
type Repo struct {
	reg      name.Registry
	repo     name.Repository
	keychain authn.Keychain
	policy   Policy
	dir      Direction
	http     *http.Client
	label    string
}

// ParseRegistry checks a registry host[:port]. Loopback registries and
// insecure ones may fall back to plain HTTP.
func ParseRegistry(registry string, insecure bool) (name.Registry, error) {
	var opts []name.Option
	if insecure || regerr.IsLoopback(registry) {
		opts = append(opts, name.Insecure)
	}
	return name.NewRegistry(registry, opts...)
}

// Open checks the names, resolves credentials and does the registry's auth
// handshake.
func Open(ctx context.Context, registry, repository string, o Options) (*Repo, error) {
	label := o.Label
	if label == "" {
		label = registry + "/" + repository
	}
	if registry == "" || repository == "" {
		return nil, errors.New("registry and repository are required")
	}
	reg, err := ParseRegistry(registry, o.Insecure)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	if err := reference.CheckRepository(repository); err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	r := &Repo{reg: reg, repo: reg.Repo(repository), keychain: o.Keychain, dir: o.Direction, label: label}
	r.policy = PullPolicy
	if o.Direction == Push {
		r.policy = PushPolicy
	}
	if r.keychain == nil || o.Gateway != nil {
		r.keychain = anonymous{}
	}
	auth, err := authn.Resolve(ctx, r.keychain, reg)
	if err != nil {
		return nil, fmt.Errorf("%s: looking up credentials for %s: %w", label, reg.RegistryStr(), err)
	}

	base := BaseTransport()
	base.ResponseHeaderTimeout = 2 * time.Minute
	if o.Direction == Push {
		// A registry may take its time to hash a large blob at the commit.
		base.ResponseHeaderTimeout = 5 * time.Minute
	}
	if o.Conns > 0 {
		base.MaxIdleConnsPerHost = o.Conns
	}
	if o.Insecure {
		// Like crane --insecure: a registry one marks insecure may also
		// have a self-signed certificate.
		base.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	scopes := []string{r.repo.Scope(transport.PullScope)}
	if o.Direction == Push {
		scopes = []string{r.repo.Scope(transport.PushScope)}
		for _, from := range o.MountFrom {
			scopes = append(scopes, reg.Repo(from).Scope(transport.PullScope))
		}
	}
	var under http.RoundTripper = base
	if o.Gateway != nil {
		under = o.Gateway.wrap(base)
		r.label += " (through the registry gateway)"
	}
	var rt http.RoundTripper
	err = r.Retry(ctx, func() error {
		var err error
		rt, err = transport.NewWithContext(ctx, reg, auth, rewind{under}, scopes)
		return err
	})
	if err != nil {
		return nil, r.Explain(err, "")
	}
	r.http = &http.Client{Transport: rt}
	return r, nil
}

// BaseTransport is the HTTP transport under the auth handshake; fuzz tests
// point it at a loopback server whatever host a challenge names.
var BaseTransport = func() *http.Transport { return http.DefaultTransport.(*http.Transport).Clone() }

// anonymous is the keychain of a client without one.
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }
func (anonymous) Source(string) string                                { return "anonymous" }

// rewind gives every request with GetBody a fresh body. ggcr's bearer
// transport resends the same request after refreshing an expired token,
// which would otherwise send an already consumed manifest body.
type rewind struct{ inner http.RoundTripper }

func (t rewind) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = body
	}
	return t.inner.RoundTrip(req)
}

// Host is the registry's host[:port].
func (r *Repo) Host() string { return r.reg.RegistryStr() }

// Registry is the parsed registry.
func (r *Repo) Registry() name.Registry { return r.reg }

// Name is the repository's path.
func (r *Repo) Name() string { return r.repo.RepositoryStr() }

// Label names the image in messages.
func (r *Repo) Label() string { return r.label }

// URL is the API address of kind ("blobs", "manifests") ref.
func (r *Repo) URL(kind, ref string) string {
	return fmt.Sprintf("%s://%s/v2/%s/%s/%s", r.reg.Scheme(), r.reg.RegistryStr(), r.repo.RepositoryStr(), kind, ref)
}

// Do sends req and returns the response if its status is one of ok.
func (r *Repo) Do(req *http.Request, ok ...int) (*http.Response, error) {
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, ok...); err != nil {
		resp.Body.Close()
		if ra := retryAfter(resp); ra > 0 {
			return nil, &waitError{err: err, wait: ra}
		}
		return nil, err
	}
	return resp, nil
}

// Get sends one GET and returns the response if it is 200.
func (r *Repo) Get(ctx context.Context, url, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return r.Do(req, http.StatusOK)
}

// Drain reads what is left of a small answer so the connection is reused.
func Drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// location resolves an upload session's Location against the request.
func location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, protocolError("registry opened an upload session without a Location")
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, protocolError(fmt.Sprintf("registry sent an invalid upload Location: %v", err))
	}
	return resp.Request.URL.ResolveReference(u), nil
}
