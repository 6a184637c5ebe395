package outbound

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// DefaultMaxRedirects is how many redirects a Client follows unless told.
const DefaultMaxRedirects = 10

// ClientOptions shape a Client.
type ClientOptions struct {
	// Timeout bounds a whole exchange, the response body included; 0 leaves
	// it to the request's context.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed: 0 means
	// DefaultMaxRedirects, a negative number none.
	MaxRedirects int
}

// Client makes requests under the Guard's policy.
type Client struct {
	hc *http.Client
}

// Client returns a client whose errors are *Error.
func (g *Guard) Client(o ClientOptions) *Client {
	return &Client{hc: g.HTTPClient(o)}
}

// HTTPClient returns the guarded *http.Client, for a library that takes one
// (go-git's http transport). Its errors are those of net/http, with the URL
// and the connection's detail in their text: pass them through Unreachable
// before they reach a user.
func (g *Guard) HTTPClient(o ClientOptions) *http.Client {
	limit := o.MaxRedirects
	switch {
	case limit == 0:
		limit = DefaultMaxRedirects
	case limit < 0:
		limit = 0
	}
	return &http.Client{
		Transport:     credentialTransport{next: g.transport},
		CheckRedirect: g.checkRedirect(limit),
		Timeout:       o.Timeout,
	}
}

// Do sends req and returns the response, or an *Error when the request was
// refused or failed. A response of any status is not an error.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, Unreachable(err)
	}
	return res, nil
}

// dialer connects only where the policy allows: its Control hook checks
// the resolved address of every socket before it connects.
func (g *Guard) dialer() *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
}

// DialContext connects to address ("host:port", a name resolved here) under
// the policy, directly (never through a proxy): a refused address is never
// connected to, whichever of its names' addresses it is. For protocols that
// are not HTTP (git over ssh). Its errors carry the address: pass them
// through Unreachable before they reach a user.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.dialer().DialContext(ctx, network, address)
}

// newTransport is net/http's default transport without the environment's
// proxy, and with a dialer that checks every address it connects to.
func (g *Guard) newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.dialer().DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// control runs on each socket after the name was resolved and before it
// connects: address is the IP address and port being dialed.
func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused: %q is not an IP address and port", address)
	}
	return g.CheckAddr(ap.Addr())
}

// checkRedirect decides each redirect hop: an http or https target, no
// downgrade from https, no literal refused address, at most limit hops;
// credentials dropped once the chain has left the first request's origin.
func (g *Guard) checkRedirect(limit int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > limit {
			return fmt.Errorf("refused: more than %d redirects", limit)
		}
		scheme := strings.ToLower(req.URL.Scheme)
		if scheme != "http" && scheme != "https" {
			return fmt.Errorf("refused: redirect to a %q URL", req.URL.Scheme)
		}
		if prev := via[len(via)-1].URL; strings.EqualFold(prev.Scheme, "https") && scheme == "http" {
			return fmt.Errorf("refused: redirect from https to http (%s)", req.URL.Redacted())
		}
		if a, err := netip.ParseAddr(req.URL.Hostname()); err == nil {
			if err := g.CheckAddr(a); err != nil {
				return err
			}
		}
		if crossedOrigin(req, via) {
			stripCredentials(req)
		}
		return nil
	}
}

// crossedOrigin reports whether the redirect chain, the pending hop
// included, has been anywhere but the first request's origin. Once it has,
// credentials stay dropped even if a later hop comes back.
func crossedOrigin(req *http.Request, via []*http.Request) bool {
	first := originOf(via[0].URL)
	if first == "" || originOf(req.URL) != first {
		return true
	}
	for _, v := range via[1:] {
		if originOf(v.URL) != first {
			return true
		}
	}
	return false
}

// stripCredentials keeps only the headers that cannot carry a credential: a
// list of what to keep, because a caller's secret can travel under any name
// (Authorization, Cookie, PRIVATE-TOKEN, X-Api-Key, ...).
func stripCredentials(req *http.Request) {
	kept := make(http.Header)
	for name, v := range req.Header {
		switch http.CanonicalHeaderKey(name) {
		case "Accept", "Accept-Encoding", "Accept-Language", "Content-Type",
			"If-Modified-Since", "If-None-Match", "User-Agent":
			kept[name] = v
		}
	}
	req.Header = kept
	req.URL.User = nil
}
