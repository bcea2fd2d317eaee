package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/rules-img/rules_img/pkg/reference"
	"github.com/rules-img/rules_img/pkg/registry"
)

// Server forwards the requests its policy allows, with its own
// credentials. Its zero value denies everything.
type Server struct {
	policy          atomic.Pointer[Policy]
	AllowAll        bool           // --dangerously-allow-all: no policy
	DefaultRegistry string         // for requests without the header
	Keychain        authn.Keychain // credentials for upstream registries
	Log             *log.Logger    // decisions; nil: none

	mu         sync.Mutex
	transports map[string]http.RoundTripper // host|repo|scopes
}

// SetPolicy replaces the policy (a reload).
func (s *Server) SetPolicy(p *Policy) { s.policy.Store(p) }

// check is one permission a request needs.
type check struct{ repo, op string }

// classify names the repository and the permissions a distribution API
// request needs; an empty list means it is not one the gateway forwards.
func classify(r *http.Request) (repo string, checks []check, err error) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		return "", nil, fmt.Errorf("%s is not a distribution API path", r.URL.Path)
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	for _, kind := range []string{"/blobs/uploads/", "/blobs/", "/manifests/", "/tags/list", "/referrers/"} {
		i := strings.LastIndex(rest, kind)
		if i <= 0 {
			continue
		}
		repo = rest[:i]
		switch kind {
		case "/blobs/uploads/":
			if read || r.Method == http.MethodDelete {
				// A HEAD/GET of an upload session, or cancelling it, is part of writing.
				return repo, []check{{repo, BlobWrite}}, nil
			}
			checks = []check{{repo, BlobWrite}}
			if from := r.URL.Query().Get("from"); from != "" && r.URL.Query().Get("mount") != "" {
				checks = append(checks, check{from, BlobRead})
			}
			return repo, checks, nil
		case "/blobs/":
			if !read {
				return "", nil, fmt.Errorf("%s of a blob is not forwarded", r.Method)
			}
			// A HEAD is how a push asks whether to upload: read or write will do.
			if r.Method == http.MethodHead {
				return repo, []check{{repo, BlobRead + "|" + BlobWrite}}, nil
			}
			return repo, []check{{repo, BlobRead}}, nil
		case "/manifests/":
			switch {
			case r.Method == http.MethodHead:
				return repo, []check{{repo, ManifestRead + "|" + ManifestWrite}}, nil
			case read:
				return repo, []check{{repo, ManifestRead}}, nil
			case r.Method == http.MethodPut:
				return repo, []check{{repo, ManifestWrite}}, nil
			}
			return "", nil, fmt.Errorf("%s of a manifest is not forwarded", r.Method)
		default: // tags, referrers
			if !read {
				return "", nil, fmt.Errorf("%s %s is not forwarded", r.Method, kind)
			}
			return repo, []check{{repo, ManifestRead}}, nil
		}
	}
	return "", nil, fmt.Errorf("%s is not a distribution API path the gateway forwards", r.URL.Path)
}

func (s *Server) allowed(host string, c check) (bool, string) {
	if s.AllowAll {
		return true, "--dangerously-allow-all"
	}
	p := s.policy.Load()
	if p == nil {
		return false, "no policy"
	}
	// "a|b": either permission will do (a HEAD is a read or a write's check).
	var why []string
	for _, op := range strings.Split(c.op, "|") {
		ok, rule := p.Decide(host, c.repo, op)
		w := "defaultAction " + p.DefaultAction
		if rule != nil {
			w = "rule " + rule.Action + " " + rule.Registry + "/" + rule.Repository
			if rule.Description != "" {
				w += " (" + rule.Description + ")"
			}
		}
		if ok {
			return true, w
		}
		why = append(why, op+": "+w)
	}
	return false, strings.Join(why, "; ")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		io.WriteString(w, "ok\n")
		return
	}
	if r.URL.Path == "/v2/" || r.URL.Path == "/v2" {
		// Clients need no credentials here: the gateway has them.
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		io.WriteString(w, "{}")
		return
	}
	host := r.Header.Get(registry.OriginalHostHeader)
	if host == "" {
		host = s.DefaultRegistry
	}
	if host == "" {
		deny(w, http.StatusBadRequest, "UNSUPPORTED", "name the registry in the "+registry.OriginalHostHeader+" header")
		return
	}
	reg, err := registry.ParseRegistry(host, false)
	if err != nil {
		deny(w, http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("registry %q: %v", host, err))
		return
	}
	host = reg.RegistryStr()
	repo, checks, err := classify(r)
	if err != nil {
		deny(w, http.StatusForbidden, "DENIED", err.Error())
		return
	}
	for _, c := range checks {
		if err := reference.CheckRepository(c.repo); err != nil {
			deny(w, http.StatusBadRequest, "NAME_INVALID", err.Error())
			return
		}
		ok, why := s.allowed(host, c)
		s.logf("%s %s %s/%s %s: allowed=%v by %s", r.Method, r.URL.Path, host, c.repo, c.op, ok, why)
		if !ok {
			deny(w, http.StatusForbidden, "DENIED", fmt.Sprintf("the registry gateway's policy denies %s on %s/%s (%s)", strings.ReplaceAll(c.op, "|", " and "), host, c.repo, why))
			return
		}
	}
	rt, err := s.transport(r.Context(), reg, repo, checks)
	if err != nil {
		deny(w, http.StatusBadGateway, "UNAVAILABLE", fmt.Sprintf("authenticating to %s: %v", host, err))
		return
	}
	s.forward(w, r, rt, reg.Scheme()+"://"+host)
}

func (s *Server) logf(format string, args ...any) {
	if s.Log != nil {
		s.Log.Printf(format, args...)
	}
}

// transport authenticates to the registry for what the request does.
func (s *Server) transport(ctx context.Context, nreg name.Registry, repo string, checks []check) (http.RoundTripper, error) {
	scopes := []string{nreg.Repo(repo).Scope(transport.PullScope)}
	for _, c := range checks {
		if strings.Contains(c.op, "write") && c.repo == repo {
			scopes[0] = nreg.Repo(repo).Scope(transport.PushScope)
		} else if c.repo != repo {
			scopes = append(scopes, nreg.Repo(c.repo).Scope(transport.PullScope))
		}
	}
	key := nreg.RegistryStr() + "|" + strings.Join(scopes, " ")
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt, ok := s.transports[key]; ok {
		return rt, nil
	}
	kc := s.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	auth, err := authn.Resolve(ctx, kc, nreg)
	if err != nil {
		return nil, err
	}
	rt, err := transport.NewWithContext(ctx, nreg, auth, registry.BaseTransport(), scopes)
	if err != nil {
		return nil, err
	}
	if s.transports == nil {
		s.transports = map[string]http.RoundTripper{}
	}
	s.transports[key] = rt
	return rt, nil
}

// hopHeaders are per connection, never forwarded (RFC 9110 7.6.1), with
// the client's own Authorization, which is for the gateway, not upstream.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Authorization", registry.OriginalHostHeader}

func (s *Server) forward(w http.ResponseWriter, r *http.Request, rt http.RoundTripper, base string) {
	u, _ := url.Parse(base + r.URL.Path)
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
	if err != nil {
		deny(w, http.StatusBadRequest, "UNSUPPORTED", err.Error())
		return
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.ContentLength = r.ContentLength
	if r.ContentLength == 0 {
		out.Body = http.NoBody
	}
	// Registries redirect blob reads to storage; the gateway follows them,
	// so a client never goes anywhere but here.
	client := &http.Client{Transport: rt, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := client.Do(out)
	if err != nil {
		deny(w, http.StatusBadGateway, "UNAVAILABLE", fmt.Sprintf("forwarding to %s: %v", base, err))
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		if !contains(hopHeaders, http.CanonicalHeaderKey(k)) {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func deny(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set(registry.GatewayReasonHeader, message)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": message}}})
}
