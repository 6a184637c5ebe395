package outbound

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckAddrRanges(t *testing.T) {
	g := New(Config{})
	cases := []struct {
		addr   string
		reason string // "" = permitted
	}{
		// IPv4 global
		{"1.1.1.1", ""},
		{"8.8.8.8", ""},
		{"93.184.215.14", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"169.253.255.255", ""},
		{"223.255.255.255", ""},
		// IPv4 refused
		{"0.0.0.0", "an unspecified address"},
		{"0.1.2.3", "this network"},
		{"10.0.0.1", "a private address"},
		{"10.255.255.255", "a private address"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.255", "carrier-grade NAT"},
		{"127.0.0.1", "a loopback address"},
		{"127.255.0.9", "a loopback address"},
		{"169.254.0.1", "a link-local address"},
		{"169.254.169.254", "cloud metadata"},
		{"172.16.0.1", "a private address"},
		{"172.31.255.255", "a private address"},
		{"192.0.0.8", "an IETF protocol assignment"},
		{"192.0.2.1", "a documentation address"},
		{"192.88.99.1", "6to4 relay"},
		{"192.168.1.1", "a private address"},
		{"198.18.0.1", "a benchmarking address"},
		{"198.19.255.255", "a benchmarking address"},
		{"198.51.100.7", "a documentation address"},
		{"203.0.113.9", "a documentation address"},
		{"224.0.0.1", "a multicast address"},
		{"239.255.255.250", "a multicast address"},
		{"240.0.0.1", "a reserved address"},
		{"255.255.255.255", "the broadcast address"},
		// IPv4-mapped IPv6: judged as the IPv4 address
		{"::ffff:127.0.0.1", "a loopback address"},
		{"::ffff:7f00:1", "a loopback address"},
		{"::ffff:10.1.2.3", "a private address"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"::ffff:0.0.0.0", "an unspecified address"},
		{"::ffff:100.64.0.1", "carrier-grade NAT"},
		{"::ffff:8.8.8.8", ""},
		// IPv6 global
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"2001:4860:4860::8888", ""},
		// IPv6 refused
		{"::", "an unspecified address"},
		{"::1", "a loopback address"},
		{"::2", "a reserved address"},
		{"::127.0.0.1", "a reserved address"}, // IPv4-compatible (deprecated)
		{"100::1", "a discard-only address"},
		{"2001::1", "an IETF protocol assignment"}, // Teredo
		{"2001:db8::1", "a documentation address"},
		{"3fff::1", "a documentation address"},
		{"fc00::1", "a unique local (private) address"},
		{"fd00:ec2::254", "a unique local (private) address"}, // AWS metadata over IPv6
		{"fe80::1", "a link-local address"},
		{"fe80::1%eth0", "a link-local address"},
		{"febf::1", "a link-local address"},
		{"fec0::1", "a site-local address"},
		{"ff02::1", "a multicast address"},
		{"ff05::1:3", "a multicast address"},
		{"4000::1", "not a global unicast address"},
		{"e000::1", "not a global unicast address"},
		// IPv6 forms that embed an IPv4 address: judged by it
		{"64:ff9b::808:808", ""},
		{"64:ff9b::7f00:1", "a NAT64 address of 127.0.0.1, a loopback address"},
		{"64:ff9b::a9fe:a9fe", "cloud metadata"},
		{"64:ff9b:1::1", "a local-use NAT64 address"},
		{"2002:808:808::1", ""},
		{"2002:7f00:1::1", "a 6to4 address of 127.0.0.1, a loopback address"},
		{"2002:c0a8:101::1", "a 6to4 address of 192.168.1.1, a private address"},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			err := g.CheckAddr(netip.MustParseAddr(c.addr))
			if c.reason == "" {
				require.NoError(t, err)
				return
			}
			var refused *RefusedError
			require.True(t, errors.As(err, &refused), "want a refusal, got %v", err)
			require.Contains(t, refused.Reason, c.reason)
			require.Contains(t, err.Error(), "refused: ")
			require.Empty(t, refused.Addr.Zone())
		})
	}
}

func TestCheckAddrMessage(t *testing.T) {
	g := New(Config{})
	require.EqualError(t, g.CheckAddr(netip.MustParseAddr("127.0.0.1")), "refused: 127.0.0.1 is a loopback address")
	require.EqualError(t, g.CheckAddr(netip.MustParseAddr("::ffff:127.0.0.1")), "refused: 127.0.0.1 is a loopback address",
		"a mapped address is named in its IPv4 form")
	require.EqualError(t, g.CheckAddr(netip.Addr{}), "refused: not an IP address")
}

func TestAllowedNetworks(t *testing.T) {
	g := New(Config{AllowedNetworks: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("fd00:1::/32"),
		netip.MustParsePrefix("::ffff:192.168.7.0/120"), // IPv4-mapped form of 192.168.7.0/24
	}})
	cases := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::ffff:127.0.0.1", true},
		{"10.1.200.3", true},
		{"10.2.0.1", false},
		{"::ffff:10.2.0.1", false},
		{"192.168.7.4", true},
		{"::ffff:192.168.7.4", true},
		{"192.168.8.4", false},
		{"fd00:1::5", true},
		{"fd00:2::5", false},
		{"::1", false},
		{"64:ff9b::7f00:1", true}, // NAT64 of an allowed address
		{"64:ff9b::a02:1", false}, // NAT64 of 10.2.0.1
		{"169.254.169.254", false},
		{"8.8.8.8", true}, // global stays permitted
	}
	for _, c := range cases {
		err := g.CheckAddr(netip.MustParseAddr(c.addr))
		if c.allowed {
			require.NoError(t, err, c.addr)
		} else {
			require.Error(t, err, c.addr)
		}
	}
}

func TestControl(t *testing.T) {
	g := New(Config{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	cases := []struct {
		address string
		refused string // "" = permitted
	}{
		{"8.8.8.8:443", ""},
		{"10.0.0.1:80", ""},
		{"[2606:4700:4700::1111]:443", ""},
		{"127.0.0.1:80", "refused: 127.0.0.1 is a loopback address"},
		{"[::1]:80", "refused: ::1 is a loopback address"},
		{"[::ffff:127.0.0.1]:80", "refused: 127.0.0.1 is a loopback address"},
		{"[fe80::1%eth0]:80", "refused: fe80::1 is a link-local address"},
		{"169.254.169.254:80", "refused: 169.254.169.254 is a link-local address (the cloud metadata service)"},
		{"0.0.0.0:80", "refused: 0.0.0.0 is an unspecified address"},
		{"localhost:80", `refused: "localhost:80" is not an IP address and port`},
		{"/run/socket", `refused: "/run/socket" is not an IP address and port`},
	}
	for _, c := range cases {
		err := g.control("tcp", c.address, nil)
		if c.refused == "" {
			require.NoError(t, err, c.address)
		} else {
			require.EqualError(t, err, c.refused, c.address)
		}
	}
}
