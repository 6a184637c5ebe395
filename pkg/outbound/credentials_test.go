package outbound

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOriginOf(t *testing.T) {
	cases := []struct{ url, origin string }{
		{"https://repo.example.com", "https://repo.example.com:443"},
		{"https://repo.example.com:443/p2/a/b.json", "https://repo.example.com:443"},
		{"HTTPS://Repo.Example.COM:0443/", "https://repo.example.com:443"},
		{"http://repo.example.com", "http://repo.example.com:80"},
		{"http://repo.example.com:8080", "http://repo.example.com:8080"},
		{"http://user:pass@repo.example.com/", "http://repo.example.com:80"},
		{"http://127.0.0.1:3000/x", "http://127.0.0.1:3000"},
		{"http://[::1]:3000/x", "http://[::1]:3000"},
		{"http://[0:0::1]/", "http://[::1]:80"},
		{"http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]:80"}, // not unmapped: another spelling is another authority
		{"http://repo.example.com./", "http://repo.example.com.:80"},
		{"ftp://repo.example.com/", ""},
		{"/relative/path", ""},
		{"https:///nohost", ""},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		require.NoError(t, err, c.url)
		require.Equal(t, c.origin, originOf(u), c.url)
	}
	require.Empty(t, originOf(nil))
}

func TestCheckRedirectHops(t *testing.T) {
	g := New(loopbackAllowed())
	check := g.checkRedirect(5)
	hop := func(raw string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, raw, nil)
		require.NoError(t, err)
		return r
	}
	cases := []struct {
		from, to string
		err      string
	}{
		{"https://a.example/", "https://b.example/", ""},
		{"http://a.example/", "https://a.example/", ""},
		{"http://a.example/", "http://127.0.0.1:8080/", ""}, // allowed network
		{"https://a.example/", "http://a.example/", "refused: redirect from https to http"},
		{"https://a.example/", "ftp://a.example/", `refused: redirect to a "ftp" URL`},
		{"https://a.example/", "file:///etc/passwd", `refused: redirect to a "file" URL`},
		{"https://a.example/", "https://10.0.0.1/", "refused: 10.0.0.1 is a private address"},
		{"https://a.example/", "https://[::ffff:a9fe:a9fe]/", "refused: 169.254.169.254 is a link-local address"},
	}
	for _, c := range cases {
		err := check(hop(c.to), []*http.Request{hop(c.from)})
		if c.err == "" {
			require.NoError(t, err, c.to)
		} else {
			require.ErrorContains(t, err, c.err, c.to)
		}
	}
}

func TestCheckRedirectStripsOnOriginChange(t *testing.T) {
	check := New(Config{}).checkRedirect(5)
	cases := []struct {
		via   []string
		to    string
		strip bool
	}{
		{[]string{"https://a.example/x"}, "https://a.example/y", false},
		{[]string{"https://a.example/x"}, "https://A.EXAMPLE:443/y", false},
		{[]string{"https://a.example/x"}, "https://a.example:8443/y", true},
		{[]string{"https://a.example/x"}, "https://b.example/y", true},
		{[]string{"https://a.example/x"}, "https://sub.a.example/y", true},
		{[]string{"http://a.example/x"}, "https://a.example/y", true},
		{[]string{"https://a.example/x", "https://b.example/"}, "https://a.example/z", true}, // sticky
	}
	for _, c := range cases {
		var via []*http.Request
		for _, v := range c.via {
			r, err := http.NewRequest(http.MethodGet, v, nil)
			require.NoError(t, err)
			via = append(via, r)
		}
		req, err := http.NewRequest(http.MethodGet, c.to, nil)
		require.NoError(t, err)
		req.URL.User = url.UserPassword("u", "p")
		req.Header.Set("Authorization", "Basic x")
		req.Header.Set("Proxy-Authorization", "Basic y")
		req.Header.Set("X-Api-Key", "k")
		req.Header["private-token"] = []string{"raw key"} // not canonical
		req.Header.Set("User-Agent", "packyard")
		req.Header.Set("If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT")
		require.NoError(t, check(req, via))
		if c.strip {
			require.Equal(t, http.Header{"User-Agent": {"packyard"}, "If-Modified-Since": {"Mon, 02 Jan 2006 15:04:05 GMT"}}, req.Header, c.to)
			require.Nil(t, req.URL.User)
		} else {
			require.Equal(t, "Basic x", req.Header.Get("Authorization"), c.to)
			require.Len(t, req.Header, 6)
		}
	}
}
