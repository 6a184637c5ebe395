package outbound

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

func TestParseNetworks(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "", want: nil},
		{in: " , ,", want: nil},
		{in: "127.0.0.0/8", want: []string{"127.0.0.0/8"}},
		{in: "10.0.0.0/8, fd00::/8 ,192.168.1.0/24,", want: []string{"10.0.0.0/8", "fd00::/8", "192.168.1.0/24"}},
		{in: "10.1.2.3", want: []string{"10.1.2.3/32"}},
		{in: "fd00::5", want: []string{"fd00::5/128"}},
		{in: "::ffff:10.0.0.0/104", want: []string{"::ffff:10.0.0.0/104"}},
		{in: "0.0.0.0/0", want: []string{"0.0.0.0/0"}},
		{in: "10.0.0.0/8,bogus", err: `"bogus" is not a network`},
		{in: "10.0.0.0/33", err: `"10.0.0.0/33" is not a network`},
		{in: "10.0.0.0/8;192.168.0.0/16", err: `"10.0.0.0/8;192.168.0.0/16" is not a network`},
		{in: "example.com", err: `"example.com" is not a network`},
		{in: "fe80::1%eth0", err: `"fe80::1%eth0" is not a network`},
		{in: "10.1.2.3/8", err: `"10.1.2.3/8" has bits set after its prefix length: the network is 10.0.0.0/8`},
	}
	for _, c := range cases {
		got, err := ParseNetworks(c.in)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.in)
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			continue
		}
		require.NoError(t, err, c.in)
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		require.Equal(t, c.want, s, c.in)
	}
}

func TestConfigFromEnv(t *testing.T) {
	l := config.NewLoader(config.Map(map[string]string{AllowedNetworksVar: "127.0.0.0/8, 10.0.0.0/8"}))
	cfg := ConfigFromEnv(l)
	require.NoError(t, l.Err())
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}, cfg.AllowedNetworks)

	l = config.NewLoader(config.Map(nil))
	require.Empty(t, ConfigFromEnv(l).AllowedNetworks, "empty by default")
	require.NoError(t, l.Err())

	l = config.NewLoader(config.Map(map[string]string{AllowedNetworksVar: "10.0.0.0/8,nope"}))
	ConfigFromEnv(l)
	require.ErrorContains(t, l.Err(), `PACKYARD_OUTBOUND_ALLOWED_NETWORKS: "nope" is not a network`)
}

func FuzzParseNetworks(f *testing.F) {
	for _, s := range []string{"", "10.0.0.0/8", "10.0.0.0/8, fd00::/8", "1.2.3.4", "::ffff:1.2.3.4/128", "a,b", "10.1.2.3/8", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nets, err := ParseNetworks(s)
		if err != nil {
			require.ErrorIs(t, err, errs.ErrInvalidArgument)
			return
		}
		parts := make([]string, len(nets))
		for i, p := range nets {
			require.True(t, p.IsValid())
			require.Equal(t, p.Masked(), p)
			parts[i] = p.String()
		}
		again, err := ParseNetworks(strings.Join(parts, ","))
		require.NoError(t, err)
		require.Equal(t, nets, again)
	})
}

func TestCheckURL(t *testing.T) {
	g := New(Config{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}})
	cases := []struct {
		url string
		err string // "" = accepted
	}{
		{"https://repo.example.com", ""},
		{"https://repo.example.com:8443/packages.json", ""},
		{"HTTP://repo.example.com/", ""},
		{"http://8.8.8.8/", ""},
		{"http://[2606:4700:4700::1111]:8080/", ""},
		{"http://10.9.1.1/", ""},    // allowed network
		{"http://localhost:1/", ""}, // a name: checked when connecting
		{"http://internal.corp/", ""},
		{"ftp://repo.example.com/", "use an http:// or https:// URL"},
		{"file:///etc/passwd", "use an http:// or https:// URL"},
		{"gopher://127.0.0.1:6379/", "use an http:// or https:// URL"},
		{"repo.example.com", "use an http:// or https:// URL"},
		{"https://user:secret@/x", "the URL has no host"},
		{"http://%zz/", "the URL cannot be parsed"},
		{"http://127.0.0.1:8080/", "127.0.0.1 is a loopback address"},
		{"http://[::1]/", "::1 is a loopback address"},
		{"http://[::ffff:127.0.0.1]/", "127.0.0.1 is a loopback address"},
		{"http://[::ffff:a9fe:a9fe]/", "169.254.169.254 is a link-local address (the cloud metadata service)"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		{"http://[fe80::1%25eth0]/", "fe80::1 is a link-local address"},
		{"http://0.0.0.0/", "0.0.0.0 is an unspecified address"},
		{"http://10.8.0.1/", "10.8.0.1 is a private address: packyard connects to it only if PACKYARD_OUTBOUND_ALLOWED_NETWORKS lists its network"},
		{"https://100.64.1.1/", "carrier-grade NAT"},
		{"https://[fd12::1]/", "unique local"},
	}
	for _, c := range cases {
		err := g.CheckURL(c.url)
		if c.err == "" {
			require.NoError(t, err, c.url)
			continue
		}
		require.ErrorContains(t, err, c.err, c.url)
		require.ErrorIs(t, err, errs.ErrInvalidArgument, c.url)
		require.NotContains(t, err.Error(), "secret", c.url)
	}
}
