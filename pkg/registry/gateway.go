package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginalHostHeader names the registry a request is for, when it goes to
// a gateway instead (upstream rules_img's oci-distribution-gateway header).
const OriginalHostHeader = "X-rules_img-Original-Host"

// GatewayReasonHeader carries why a gateway refused a request, so the
// reason reaches the client even for a HEAD, which has no body.
const GatewayReasonHeader = "X-rules_img-Gateway-Reason"

// Gateway is where registry traffic goes instead of the registry itself: a
// gateway that authenticates to the registry and decides what is allowed
// (`img gateway`, or upstream rules_img's oci-distribution-gateway).
type Gateway struct {
	scheme, host string
	socket       string // unix socket path, when set
}

// ParseGateway reads an endpoint: http://HOST[:PORT], https://HOST[:PORT] or
// unix:/ABSOLUTE/PATH.
func ParseGateway(endpoint string) (*Gateway, error) {
	if path, ok := strings.CutPrefix(endpoint, "unix:"); ok {
		if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
			return nil, fmt.Errorf("registry gateway %q: write unix: and an absolute path, e.g. unix:/run/gw.sock (not unix://)", endpoint)
		}
		return &Gateway{scheme: "http", host: "gateway", socket: path}, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("registry gateway %q: use http://HOST[:PORT], https://HOST[:PORT] or unix:/PATH", endpoint)
	}
	return &Gateway{scheme: u.Scheme, host: u.Host}, nil
}

// wrap sends every request of base to the gateway, naming the registry it
// was for in OriginalHostHeader.
func (g *Gateway) wrap(base *http.Transport) http.RoundTripper {
	if g.socket != "" {
		var d net.Dialer
		base.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", g.socket)
		}
		base.DialTLSContext = nil
	}
	return gatewayTransport{g: g, base: base}
}

type gatewayTransport struct {
	g    *Gateway
	base http.RoundTripper
}

func (t gatewayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set(OriginalHostHeader, req.URL.Host)
	r.URL.Scheme, r.URL.Host, r.Host = t.g.scheme, t.g.host, t.g.host
	resp, err := t.base.RoundTrip(r)
	if resp != nil {
		// A relative Location resolves against the registry's URL, not the
		// gateway's, so the next request names the registry again.
		resp.Request = req
		if why := resp.Header.Get(GatewayReasonHeader); why != "" && req.Method == http.MethodHead {
			body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": why}}})
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	return resp, err
}
