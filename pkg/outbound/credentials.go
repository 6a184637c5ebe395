package outbound

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/packyard/packyard/pkg/errs"
)

// credential is a header sent only to one origin.
type credential struct {
	origin string // originOf form: "https://repo.example.com:443"
	header string // canonical name
	value  string
}

type credentialsKey struct{}

// WithBasicAuthFor returns a context whose requests to the origin of rawURL
// (its scheme, host and port; the path does not matter) carry HTTP Basic
// credentials. Requests to any other origin, redirects included, never do.
// A request built with the context gets them from the Client's transport,
// so they also reach requests a library makes (go-git).
func WithBasicAuthFor(ctx context.Context, rawURL, username, password string) (context.Context, error) {
	token := base64.StdEncoding.EncodeToString([]byte(username + ":" + password))
	return WithHeaderFor(ctx, rawURL, "Authorization", "Basic "+token)
}

// WithHeaderFor is WithBasicAuthFor for a credential carried in any header
// ("Authorization: Bearer ...", "PRIVATE-TOKEN: ...").
func WithHeaderFor(ctx context.Context, rawURL, name, value string) (context.Context, error) {
	u, err := url.Parse(rawURL)
	origin := originOf(u)
	if err != nil || origin == "" {
		return ctx, errs.Invalidf("credentials can only be bound to an http:// or https:// URL")
	}
	creds, _ := ctx.Value(credentialsKey{}).([]credential)
	creds = append(slices.Clip(creds), credential{origin: origin, header: http.CanonicalHeaderKey(name), value: value})
	return context.WithValue(ctx, credentialsKey{}, creds), nil
}

// credentialTransport adds the context's credentials to a request whose
// origin is exactly theirs. It runs for every hop of a redirect chain after
// CheckRedirect has decided the hop, so nothing it adds is ever carried on
// to another origin.
type credentialTransport struct {
	next http.RoundTripper
}

func (t credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	creds, _ := req.Context().Value(credentialsKey{}).([]credential)
	if len(creds) == 0 {
		return t.next.RoundTrip(req)
	}
	origin := originOf(req.URL)
	out := req
	for _, c := range creds {
		if c.origin != origin {
			continue
		}
		if out == req {
			out = req.Clone(req.Context()) // a RoundTripper must not change its request
		}
		out.Header.Set(c.header, c.value)
	}
	return t.next.RoundTrip(out)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (t credentialTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// originOf returns u's origin as "scheme://host:port", or "" when u is not
// an http or https URL with a host. The scheme and a host name are
// ASCII-lowercased, an address literal is written in netip's form, and the
// port is the scheme's default when none is given, so every spelling of one
// origin compares equal; anything else (another port, a subdomain, http
// against https) is another origin.
func originOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	var port string
	switch scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return ""
	}
	host := u.Hostname()
	if host == "" {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String()
	} else {
		host = asciiLower(host)
	}
	if p := u.Port(); p != "" {
		port = strings.TrimLeft(p, "0")
		if port == "" {
			port = "0"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// asciiLower folds A-Z only: a Unicode fold could merge two names that DNS
// keeps apart.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
