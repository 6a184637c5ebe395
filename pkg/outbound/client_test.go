package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/testenv"
)

// recorder is a test server that remembers the headers of every request.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func (r *recorder) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.seen...)
}

// serve starts a recorder on addr ("127.0.0.1:0" when empty) answering with h.
func serve(t *testing.T, addr string, h http.HandlerFunc) *recorder {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	rec := &recorder{}
	rec.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Clone(context.Background()))
		rec.mu.Unlock()
		h(w, r)
	}))
	rec.Listener.Close()
	rec.Listener = l
	rec.Start()
	t.Cleanup(rec.Close)
	return rec
}

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

func redirectTo(target func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target(), http.StatusFound) }
}

func loopbackAllowed() Config {
	return Config{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
}

func get(t *testing.T, c *Client, ctx context.Context, target string, header http.Header) (string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b), nil
}

// requireHidden checks that err is the generic, categorized failure and
// that nothing of the connection shows in what a user would see.
func requireHidden(t *testing.T, err error, target string) {
	t.Helper()
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.Equal(t, http.StatusServiceUnavailable, errs.HTTPStatus(err))
	require.Equal(t, Message, err.Error())
	require.Equal(t, Message, errs.PublicMessage(err))
	u, perr := url.Parse(target)
	require.NoError(t, perr)
	wrapped := fmt.Errorf("packages.json: %w", err)
	for _, shown := range []string{err.Error(), errs.PublicMessage(wrapped), errs.ToConnect(err).Error()} {
		require.NotContains(t, shown, u.Port())
		require.NotContains(t, shown, u.Hostname())
		require.NotContains(t, shown, "127.0.0")
		require.NotContains(t, shown, "refused")
		require.NotContains(t, shown, "dial")
	}
	require.Contains(t, Detail(wrapped), "packages.json: Get ")
	require.Contains(t, Detail(wrapped), u.Port(), "the logs keep the detail")
}

func TestRefusedByDefault(t *testing.T) {
	srv := serve(t, "", ok)
	c := New(Config{}).Client(ClientOptions{Timeout: 5 * time.Second})

	_, err := get(t, c, t.Context(), srv.URL+"/packages.json", nil)
	requireHidden(t, err, srv.URL)
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), refused.Addr)
	require.Contains(t, Detail(err), "refused: 127.0.0.1 is a loopback address")
	require.Empty(t, srv.requests(), "nothing reached the server")
}

func TestAllowedWhenListed(t *testing.T) {
	srv := serve(t, "", ok)
	c := New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second})
	body, err := get(t, c, t.Context(), srv.URL, nil)
	require.NoError(t, err)
	require.Equal(t, "ok", body)
}

func TestFailureHasTheSameMessage(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String() + "/"
	require.NoError(t, l.Close())
	c := New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second})
	_, err = get(t, c, t.Context(), closed, nil)
	requireHidden(t, err, closed)
	require.Contains(t, Detail(err), "connect")
}

func TestHostNameResolvingToLoopbackIsRefusedAtConnect(t *testing.T) {
	srv := serve(t, "", ok)
	g := New(Config{})
	target := "http://localhost:" + srv.URL[len("http://127.0.0.1:"):] + "/"
	require.NoError(t, g.CheckURL(target), "a name is accepted at configuration time")

	_, err := get(t, g.Client(ClientOptions{Timeout: 5 * time.Second}), t.Context(), target, nil)
	requireHidden(t, err, target)
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)
	require.True(t, refused.Addr.IsLoopback(), refused.Addr.String())
	require.Empty(t, srv.requests())
}

func TestRedirectToRefusedAddress(t *testing.T) {
	// 127.0.0.1 is allowed; 127.0.0.2 is not.
	g := New(Config{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	refusedSrv := serve(t, "127.0.0.2:0", ok)
	start := serve(t, "", redirectTo(func() string { return refusedSrv.URL + "/x" }))

	_, err := get(t, g.Client(ClientOptions{Timeout: 5 * time.Second}), t.Context(), start.URL, nil)
	requireHidden(t, err, refusedSrv.URL)
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)
	require.Equal(t, netip.MustParseAddr("127.0.0.2"), refused.Addr)
	require.Len(t, start.requests(), 1)
	require.Empty(t, refusedSrv.requests())
}

func TestRedirectToNameOfRefusedAddress(t *testing.T) {
	// 127.0.0.2 is allowed; localhost (127.0.0.1) is not: the hop passes
	// CheckRedirect as a name and is refused when its connection is made.
	g := New(Config{AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	refusedSrv := serve(t, "127.0.0.1:0", ok)
	target := "http://localhost:" + refusedSrv.URL[len("http://127.0.0.1:"):] + "/x"
	start := serve(t, "127.0.0.2:0", redirectTo(func() string { return target }))

	_, err := get(t, g.Client(ClientOptions{Timeout: 5 * time.Second}), t.Context(), start.URL, nil)
	requireHidden(t, err, target)
	var refused *RefusedError
	require.ErrorAs(t, err, &refused)
	require.Equal(t, netip.MustParseAddr("127.0.0.1"), refused.Addr)
	require.Len(t, start.requests(), 1)
	require.Empty(t, refusedSrv.requests())
}

func TestRedirectToLiteralMetadataAddress(t *testing.T) {
	start := serve(t, "", redirectTo(func() string { return "http://169.254.169.254/latest/meta-data/" }))
	_, err := get(t, New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second}), t.Context(), start.URL, nil)
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.Equal(t, Message, err.Error())
	require.Contains(t, Detail(err), "refused: 169.254.169.254 is a link-local address (the cloud metadata service)")
}

func TestRedirectToAnotherPortDropsCredentials(t *testing.T) {
	other := serve(t, "", ok)
	start := serve(t, "", redirectTo(func() string { return other.URL + "/dist.zip" }))
	c := New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second})

	ctx, err := WithBasicAuthFor(t.Context(), start.URL+"/packages.json", "user", "s3cret")
	require.NoError(t, err)
	header := http.Header{"Private-Token": {"t0ken"}, "Cookie": {"session=abc"}, "Accept": {"application/json"}}
	body, err := get(t, c, ctx, start.URL, header)
	require.NoError(t, err)
	require.Equal(t, "ok", body)

	first := start.requests()[0]
	user, pass, hasAuth := first.BasicAuth()
	require.True(t, hasAuth, "the credentials reach their own origin")
	require.Equal(t, "user", user)
	require.Equal(t, "s3cret", pass)
	require.Equal(t, "t0ken", first.Header.Get("Private-Token"))

	seen := other.requests()
	require.Len(t, seen, 1)
	require.Empty(t, seen[0].Header.Get("Authorization"), "another port is another origin")
	require.Empty(t, seen[0].Header.Get("Private-Token"))
	require.Empty(t, seen[0].Header.Get("Cookie"))
	require.Equal(t, "application/json", seen[0].Header.Get("Accept"), "harmless headers are kept")
}

func TestCallerSetAuthorizationDoesNotFollowToAnotherOrigin(t *testing.T) {
	other := serve(t, "", ok)
	start := serve(t, "", redirectTo(func() string { return other.URL }))
	c := New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second})
	_, err := get(t, c, t.Context(), start.URL, http.Header{"Authorization": {"Bearer abc"}})
	require.NoError(t, err)
	require.Equal(t, "Bearer abc", start.requests()[0].Header.Get("Authorization"))
	require.Empty(t, other.requests()[0].Header.Get("Authorization"))
}

func TestSameOriginRedirectKeepsCredentials(t *testing.T) {
	var srv *recorder
	srv = serve(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/start" {
			http.Redirect(w, r, srv.URL+"/next", http.StatusFound)
			return
		}
		ok(w, r)
	})
	c := New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second})
	ctx, err := WithBasicAuthFor(t.Context(), srv.URL, "user", "s3cret")
	require.NoError(t, err)
	_, err = get(t, c, ctx, srv.URL+"/start", http.Header{"Private-Token": {"t0ken"}})
	require.NoError(t, err)

	seen := srv.requests()
	require.Len(t, seen, 2)
	require.Equal(t, "/next", seen[1].URL.Path)
	_, pass, hasAuth := seen[1].BasicAuth()
	require.True(t, hasAuth)
	require.Equal(t, "s3cret", pass)
	require.Equal(t, "t0ken", seen[1].Header.Get("Private-Token"))
}

func TestCredentialsComeBackOnlyWithTheirOrigin(t *testing.T) {
	// start -> other -> start: the caller's own headers stay dropped once the
	// chain has left; the bound credential is sent again to its own origin
	// only.
	var start *recorder
	other := serve(t, "", redirectTo(func() string { return start.URL + "/back" }))
	start = serve(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/back" {
			ok(w, r)
			return
		}
		http.Redirect(w, r, other.URL, http.StatusFound)
	})
	c := New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second})
	ctx, err := WithHeaderFor(t.Context(), start.URL, "Authorization", "Bearer bound")
	require.NoError(t, err)
	_, err = get(t, c, ctx, start.URL, http.Header{"Private-Token": {"t0ken"}})
	require.NoError(t, err)

	require.Empty(t, other.requests()[0].Header.Get("Authorization"))
	require.Empty(t, other.requests()[0].Header.Get("Private-Token"))
	back := start.requests()[1]
	require.Equal(t, "Bearer bound", back.Header.Get("Authorization"))
	require.Empty(t, back.Header.Get("Private-Token"))
}

func TestBoundCredentialsNeverReachAnotherOrigin(t *testing.T) {
	srv := serve(t, "", ok)
	c := New(loopbackAllowed()).Client(ClientOptions{Timeout: 5 * time.Second})
	ctx, err := WithBasicAuthFor(t.Context(), "http://127.0.0.1:1/", "user", "s3cret")
	require.NoError(t, err)
	ctx, err = WithHeaderFor(ctx, "https"+srv.URL[len("http"):], "Private-Token", "t0ken") // same host and port, other scheme
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	res, err := c.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Empty(t, srv.requests()[0].Header.Get("Authorization"))
	require.Empty(t, srv.requests()[0].Header.Get("Private-Token"))
	require.Empty(t, req.Header, "the caller's request is not changed")

	_, err = WithBasicAuthFor(t.Context(), "ftp://host/", "u", "p")
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, err = WithBasicAuthFor(t.Context(), "/relative", "u", "p")
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
}

func TestRedirectLimit(t *testing.T) {
	var srv *recorder
	srv = serve(t, "", redirectTo(func() string { return srv.URL }))
	g := New(loopbackAllowed())

	_, err := get(t, g.Client(ClientOptions{Timeout: 5 * time.Second, MaxRedirects: 3}), t.Context(), srv.URL, nil)
	require.Equal(t, Message, err.Error())
	require.Contains(t, Detail(err), "refused: more than 3 redirects")
	require.Len(t, srv.requests(), 4)

	_, err = get(t, g.Client(ClientOptions{Timeout: 5 * time.Second, MaxRedirects: -1}), t.Context(), srv.URL, nil)
	require.Contains(t, Detail(err), "refused: more than 0 redirects")
	require.Len(t, srv.requests(), 5)

	_, err = get(t, g.Client(ClientOptions{Timeout: 5 * time.Second}), t.Context(), srv.URL, nil)
	require.Contains(t, Detail(err), fmt.Sprintf("refused: more than %d redirects", DefaultMaxRedirects))
}

func TestCheckURLAnswersTheSameForOpenAndClosedPorts(t *testing.T) {
	open := serve(t, "", ok)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	refusing := New(Config{})
	errOpen, errClosed := refusing.CheckURL(open.URL), refusing.CheckURL(closed)
	require.Error(t, errOpen)
	require.Equal(t, errOpen.Error(), errClosed.Error())

	allowing := New(loopbackAllowed())
	require.NoError(t, allowing.CheckURL(open.URL))
	require.NoError(t, allowing.CheckURL(closed))
	require.Empty(t, open.requests(), "CheckURL does not connect")
}

func TestNoEnvironmentProxy(t *testing.T) {
	g := New(Config{})
	require.Nil(t, g.transport.Proxy)
	hc := g.HTTPClient(ClientOptions{})
	require.Nil(t, hc.Jar)
	_, ok := hc.Transport.(credentialTransport)
	require.True(t, ok)
}

func TestContextCancellationStaysVisible(t *testing.T) {
	srv := serve(t, "", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := get(t, New(loopbackAllowed()).Client(ClientOptions{}), ctx, srv.URL, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.Equal(t, Message, err.Error())
}

func TestUnreachable(t *testing.T) {
	require.NoError(t, Unreachable(nil))
	cause := errors.New("read tcp 127.0.0.1:4000: connection reset by peer")
	err := Unreachable(cause)
	require.Equal(t, Message, err.Error())
	require.ErrorIs(t, err, cause)
	require.Same(t, err, Unreachable(err), "wrapped once")
	require.Equal(t, cause.Error(), Detail(err))
	require.Equal(t, "plain", Detail(errors.New("plain")))
	require.Empty(t, Detail(nil))
}

// The edges answer Message and log the cause: errs reads an *Error as one
// of its own wrapped errors.
func TestUnreachableThroughErrs(t *testing.T) {
	err := fmt.Errorf("upstream %q: %w", "mirror", Unreachable(&url.Error{Op: "Get", URL: "http://10.1.2.3:4000/p2/a.json",
		Err: errors.New("dial tcp 10.1.2.3:4000: connect: connection refused")}))
	require.Equal(t, `upstream "mirror": `+Message, errs.PublicMessage(err))
	require.Equal(t, errs.ErrUnavailable, errs.Category(err))
	require.Contains(t, errs.Detail(err), "dial tcp 10.1.2.3:4000")
}

// DialContext (git over ssh) never connects to a refused address, by
// literal or by name, and connects where the policy allows.
func TestDialContext(t *testing.T) {
	l := testenv.ListenCounting(t)
	port := l.Port()
	for _, addr := range []string{l.Addr().String(), net.JoinHostPort("localhost", port)} {
		_, err := New(Config{}).DialContext(t.Context(), "tcp", addr)
		var refused *RefusedError
		require.ErrorAs(t, err, &refused, addr)
		require.True(t, refused.Addr.IsLoopback())
	}
	c, err := New(loopbackAllowed()).DialContext(t.Context(), "tcp", l.Addr().String())
	require.NoError(t, err)
	c.Close()
	require.Eventually(t, func() bool { return l.Accepted() == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	require.EqualValues(t, 1, l.Accepted(), "only the allowed dial connected")
}
