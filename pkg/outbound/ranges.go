package outbound

import "net/netip"

// rule refuses the addresses of one special-purpose range (IANA's IPv4 and
// IPv6 Special-Purpose Address Registries), or, for a range that embeds an
// IPv4 address (NAT64, 6to4), judges that address instead.
type rule struct {
	prefix netip.Prefix
	reason string                      // what an address of the range is: "a loopback address"
	embeds func(netip.Addr) netip.Addr // the embedded IPv4 address, or nil
}

// refusedRanges lists the ranges in the order they are tried: a more
// specific range comes before the one that contains it.
func refusedRanges() []rule {
	r := func(prefix, reason string) rule {
		return rule{prefix: netip.MustParsePrefix(prefix), reason: reason}
	}
	return []rule{
		// IPv4 (an IPv4-mapped IPv6 address is unmapped first)
		r("0.0.0.0/32", "an unspecified address"),
		r("0.0.0.0/8", "a \"this network\" address"),
		r("10.0.0.0/8", "a private address"),
		r("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
		r("127.0.0.0/8", "a loopback address"),
		r("169.254.169.254/32", "a link-local address (the cloud metadata service)"),
		r("169.254.0.0/16", "a link-local address"),
		r("172.16.0.0/12", "a private address"),
		r("192.0.0.0/24", "an IETF protocol assignment"),
		r("192.0.2.0/24", "a documentation address"),
		r("192.88.99.0/24", "a 6to4 relay anycast address"),
		r("192.168.0.0/16", "a private address"),
		r("198.18.0.0/15", "a benchmarking address"),
		r("198.51.100.0/24", "a documentation address"),
		r("203.0.113.0/24", "a documentation address"),
		r("224.0.0.0/4", "a multicast address"),
		r("255.255.255.255/32", "the broadcast address"),
		r("240.0.0.0/4", "a reserved address"),

		// IPv6
		r("::/128", "an unspecified address"),
		r("::1/128", "a loopback address"),
		{prefix: netip.MustParsePrefix("64:ff9b::/96"), reason: "a NAT64 address", embeds: nat64},
		r("64:ff9b:1::/48", "a local-use NAT64 address"),
		r("::/8", "a reserved address"),
		r("100::/64", "a discard-only address"),
		r("2001:db8::/32", "a documentation address"),
		r("2001::/23", "an IETF protocol assignment"),
		{prefix: netip.MustParsePrefix("2002::/16"), reason: "a 6to4 address", embeds: sixToFour},
		r("3fff::/20", "a documentation address"),
		r("fc00::/7", "a unique local (private) address"),
		r("fe80::/10", "a link-local address"),
		r("fec0::/10", "a site-local address"),
		r("ff00::/8", "a multicast address"),
	}
}

// nat64 is the IPv4 address in the last 32 bits of 64:ff9b::/96 (RFC 6052).
func nat64(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[12:16]))
}

// sixToFour is the IPv4 address in bits 16 to 47 of 2002::/16 (RFC 3056).
func sixToFour(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[2:6]))
}

// refusal says why connections to a may not be made ("a loopback
// address"), or returns "" when they may.
func (g *Guard) refusal(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return "not an IP address"
	}
	if g.allows(a) {
		return ""
	}
	for _, r := range g.rules {
		if !r.prefix.Contains(a) {
			continue
		}
		if r.embeds == nil {
			return r.reason
		}
		inner := r.embeds(a)
		if why := g.refusal(inner); why != "" {
			return r.reason + " of " + inner.String() + ", " + why
		}
		return ""
	}
	if a.Is6() && !isGlobalUnicast6(a) {
		return "not a global unicast address"
	}
	return ""
}

// isGlobalUnicast6 reports whether a lies in 2000::/3, the only IPv6 space
// handed out for global unicast.
func isGlobalUnicast6(a netip.Addr) bool {
	return a.As16()[0]&0xe0 == 0x20
}
