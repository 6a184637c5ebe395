// Package outbound is the one way packyard makes requests to URLs that users
// or upstreams supply: Composer upstream metadata, search and archive
// downloads, and git over http(s); and the one way it connects for other
// protocols to such addresses (git over ssh: DialContext).
//
// Its invariants:
//
//   - No connection reaches a loopback, private, unique local, link-local
//     (cloud metadata included), multicast, unspecified, shared (CGNAT),
//     broadcast, documentation, benchmarking or other non-global address, in
//     IPv4, IPv6 or IPv4-mapped IPv6 form, unless the address lies in a
//     network of Config.AllowedNetworks (PACKYARD_OUTBOUND_ALLOWED_NETWORKS,
//     empty by default).
//   - The check is made on the resolved address of every connection, in the
//     dialer's Control hook, so DNS rebinding cannot slip past it; it covers
//     the connections made for redirects too, and no proxy is ever used (an
//     environment proxy would connect on packyard's behalf, unchecked).
//   - A redirect is followed only to http or https, never from https down to
//     http, at most ClientOptions.MaxRedirects times; when a hop leaves the
//     origin (scheme, host and port) of the first request, every header that
//     can carry a credential is dropped, and stays dropped for the rest of the
//     chain.
//   - Credentials bound with WithBasicAuthFor or WithHeaderFor are added by
//     the transport to a request whose origin is exactly theirs, and to no
//     other, so they cannot follow a redirect anywhere else.
//   - A refused or failed request gives the caller an *Error: its message is
//     one generic sentence with no address, port or reason in it (so an
//     upstream URL cannot be used to probe the network), its category is
//     errs.ErrUnavailable, and Detail returns the full cause for the logs.
//   - CheckURL validates a URL without connecting or resolving, so it answers
//     the same for an open and a closed port.
package outbound

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

// AllowedNetworksVar names the variable that lists the networks outbound
// requests may reach despite being non-global.
const AllowedNetworksVar = "PACKYARD_OUTBOUND_ALLOWED_NETWORKS"

// Config is the outbound policy's configuration.
type Config struct {
	// AllowedNetworks are reachable even when their addresses are not global
	// (an internal mirror at 10.1.2.3, a test server on 127.0.0.1).
	AllowedNetworks []netip.Prefix
}

// ConfigFromEnv reads PACKYARD_OUTBOUND_ALLOWED_NETWORKS.
func ConfigFromEnv(l *config.Loader) Config {
	nets, err := ParseNetworks(l.String(AllowedNetworksVar, ""))
	if err != nil {
		l.Fail(AllowedNetworksVar, "%v", err)
		return Config{}
	}
	return Config{AllowedNetworks: nets}
}

// ParseNetworks parses a comma-separated list of networks in CIDR form
// ("10.0.0.0/8, fd00::/8"); a bare address stands for itself alone. Empty
// entries are skipped. The error names the first bad entry.
func ParseNetworks(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parseNetwork(entry)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseNetwork(entry string) (netip.Prefix, error) {
	if !strings.Contains(entry, "/") {
		a, err := netip.ParseAddr(entry)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errs.Invalidf("%q is not a network: write it in CIDR form, like 10.0.0.0/8 or fd00::/8", entry)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, errs.Invalidf("%q is not a network: write it in CIDR form, like 10.0.0.0/8 or fd00::/8", entry)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, errs.Invalidf("%q has bits set after its prefix length: the network is %s", entry, m)
	}
	return p, nil
}

// Guard decides which addresses outbound connections may reach, and makes
// the clients that enforce it.
type Guard struct {
	allowed   []netip.Prefix
	rules     []rule
	transport *http.Transport // shared by every Client, so connections are reused
}

// New returns the Guard for cfg.
func New(cfg Config) *Guard {
	g := &Guard{rules: refusedRanges()}
	for _, p := range cfg.AllowedNetworks {
		g.allowed = append(g.allowed, normalizePrefix(p))
	}
	g.transport = g.newTransport()
	return g
}

// normalizePrefix turns an IPv4-mapped IPv6 network into its IPv4 form, the
// form addresses are compared in.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// CheckAddr returns a *RefusedError when connections to a may not be made.
func (g *Guard) CheckAddr(a netip.Addr) error {
	if reason := g.refusal(a); reason != "" {
		return &RefusedError{Addr: a.Unmap().WithZone(""), Reason: reason}
	}
	return nil
}

// CheckURL validates a URL at configuration time without connecting or
// resolving: the scheme must be http or https and a literal address must
// not be refused. A host name is accepted here; its addresses are checked
// when a connection is made. The errors are errs.ErrInvalidArgument, meant
// for the person who typed the URL.
func (g *Guard) CheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return errs.Invalidf("the URL cannot be parsed: use an http:// or https:// URL")
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return errs.Invalidf("%s: use an http:// or https:// URL", u.Redacted())
	}
	host := u.Hostname()
	if host == "" {
		return errs.Invalidf("%s: the URL has no host", u.Redacted())
	}
	return g.CheckHost(host)
}

// CheckHost validates a host at configuration time without resolving it:
// a literal address must not be refused (a name is checked when a
// connection is made). The error is errs.ErrInvalidArgument.
func (g *Guard) CheckHost(host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if reason := g.refusal(a); reason != "" {
			return errs.Invalidf("%s is %s: packyard connects to it only if %s lists its network",
				a.Unmap().WithZone(""), reason, AllowedNetworksVar)
		}
	}
	return nil
}

// allows reports whether an allowed network holds a (unmapped, unzoned).
func (g *Guard) allows(a netip.Addr) bool {
	for _, p := range g.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
