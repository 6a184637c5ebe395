package composer

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/testenv"
)

// origin records what a second local server (another origin than the
// upstream's) is asked, and the Authorization headers it sees.
type origin struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits int
	auth []string
}

// newOriginOn serves a zip on host (an address of 127.0.0.0/8).
func newOriginOn(t *testing.T, host string, zip []byte) *origin {
	o := &origin{}
	l, err := net.Listen("tcp", host+":0")
	require.NoError(t, err)
	o.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.hits++
		if a := r.Header.Get("Authorization"); a != "" {
			o.auth = append(o.auth, a)
		}
		o.mu.Unlock()
		_, _ = w.Write(zip)
	})}}
	o.srv.Start()
	t.Cleanup(o.srv.Close)
	return o
}

func (o *origin) seen() (int, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits, append([]string(nil), o.auth...)
}

func ssrfStack(t *testing.T, allowed ...string) *stack {
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.Upstream.Timeout = 5 * time.Second
	cfg.Upstream.RateLimit, cfg.Upstream.Burst = 1000, 1000
	networks := strings.Join(allowed, ",")
	s := newStack(t, stackOpts{cfg: &cfg, allowedNetworks: &networks})
	s.org("acme")
	return s
}

// pointDistsAt makes the fixture's pub/log 2.0.0 archive live at target.
func pointDistsAt(f *fixtureRepo, target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	doc := string(f.files["/p2/pub/log.json"])
	f.files["/p2/pub/log.json"] = []byte(strings.Replace(doc, f.srv.URL+"/dists/log-2.zip", target, 1))
}

// mirroredCount is how many archives the organization has mirrored.
func mirroredCount(t *testing.T, s *stack) int {
	var n int
	require.NoError(t, s.meta.DB().QueryRow(t.Context(), `SELECT COUNT(*) FROM composer_mirror_dists`).Scan(&n))
	return n
}

// distOfLog2 is the path packyard serves pub/log 2.0.0's archive at.
func distOfLog2(t *testing.T, s *stack, token string) string {
	dist := s.p2("acme", "pub/log", token)["2.0.0"]["dist"].(map[string]any)
	u, err := url.Parse(dist["url"].(string))
	require.NoError(t, err)
	return u.Path
}

// TestUpstreamOnLoopbackIsRefusedByDefault: with the default policy an
// upstream on a literal 127.0.0.1 cannot be added, over the API or the
// CLI, and nothing is stored or asked; a host name that resolves to
// loopback is accepted and answered alike, open port or closed, is never
// connected to, fails its check and serves nothing.
func TestUpstreamOnLoopbackIsRefusedByDefault(t *testing.T) {
	f := newFixtureRepo(t)
	s := ssrfStack(t)
	admin := s.token("acme", metadata.RoleAdmin)
	closed := "http://127.0.0.1:1"
	for _, u := range []string{f.srv.URL, closed} {
		res, body := s.do("POST", "/composer/acme/api/upstreams", admin, strings.NewReader(`{"url":"`+u+`"}`))
		require.Equal(t, http.StatusBadRequest, res.StatusCode, string(body))
		require.Contains(t, string(body), "127.0.0.1 is a loopback address")
		require.NotContains(t, string(body), strings.TrimPrefix(u, "http://127.0.0.1"), "the port is not echoed back")
	}
	ups, err := s.proxy.Upstreams(t.Context(), "acme")
	require.NoError(t, err)
	require.Empty(t, ups)

	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	var answers []map[string]any
	for _, u := range []string{"http://localhost:" + port, "http://localhost:1"} {
		res, body := s.do("POST", "/composer/acme/api/upstreams", admin, strings.NewReader(`{"url":"`+u+`"}`))
		require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
		answers = append(answers, sameShape(t, body))
	}
	require.Equal(t, answers[0], answers[1], "an open and a closed port answer the same")
	s.proxy.checks.wg.Wait()
	require.Equal(t, 0, f.total(), "nothing reached the fixture")
	org, err := s.proxy.repo.org(t.Context(), "acme")
	require.NoError(t, err)
	_, serving, err := s.proxy.currentUpstreams(t.Context(), org)
	require.NoError(t, err)
	require.Empty(t, serving, "an upstream that failed its check serves nothing")
	ups, err = s.proxy.Upstreams(t.Context(), "acme")
	require.NoError(t, err)
	require.Len(t, ups, 2)
	var failed int
	require.NoError(t, s.meta.DB().QueryRow(t.Context(), `SELECT COUNT(*) FROM composer_upstreams WHERE state = 'failed'`).Scan(&failed))
	require.Equal(t, 2, failed)
}

// sameShape is an add's answer without what differs from one upstream to
// another (id, URL, time).
func sameShape(t *testing.T, body []byte) map[string]any {
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), string(body))
	for _, k := range []string{"id", "url", "created_at", "priority"} {
		require.Contains(t, m, k)
		delete(m, k)
	}
	return m
}

// TestAddUpstreamOverAPIAnswersAlike: over the API, adding an upstream on
// a closed port and on a port whose listener accepts and never answers
// gives the same status and body, both at once (well below the upstream
// timeout), and neither is waited for. Their checks fail alike, and the
// outcome shows only once the timeout has passed since the add, though
// the closed port's was known at once; then both read the same.
func TestAddUpstreamOverAPIAnswersAlike(t *testing.T) {
	const timeout = 3 * time.Second
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.Upstream.Timeout = timeout
	networks := "127.0.0.0/8"
	s := newStack(t, stackOpts{cfg: &cfg, allowedNetworks: &networks})
	s.org("acme")
	admin := s.token("acme", metadata.RoleAdmin)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		hang.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})

	var answers []map[string]any
	added := time.Now()
	var last time.Time // when the last upstream was added
	for _, u := range []string{closed, "http://" + hang.Addr().String()} {
		start := time.Now()
		res, body := s.do("POST", "/composer/acme/api/upstreams", admin, strings.NewReader(`{"url":"`+u+`"}`))
		took := time.Since(start)
		require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
		require.Less(t, took, timeout/4, "the add does not wait for the upstream")
		var up Upstream
		require.NoError(t, json.Unmarshal(body, &up))
		last = up.CreatedAt
		m := sameShape(t, body)
		require.Equal(t, "checking", m["status"])
		answers = append(answers, m)
	}
	require.Equal(t, answers[0], answers[1], "a closed port and a silent one answer the same")

	// The closed port's check failed at once; nobody is told before the timeout.
	require.Eventually(t, func() bool {
		var n int
		_ = s.meta.DB().QueryRow(t.Context(), `SELECT COUNT(*) FROM composer_upstreams WHERE url = ? AND state = 'failed'`, closed).Scan(&n)
		return n == 1
	}, timeout/2, 10*time.Millisecond)
	require.Less(t, time.Since(added), timeout-500*time.Millisecond, "still inside the check's time")
	for _, u := range listUpstreams(t, s, admin) {
		require.Equal(t, "checking", u["status"], u["url"])
		require.NotContains(t, u, "error")
	}

	// Once the timeout (and the grace) has passed, both read the same.
	time.Sleep(time.Until(last.Add(timeout + checkGrace + 100*time.Millisecond)))
	s.proxy.checks.wg.Wait()
	var shown []map[string]any
	for _, u := range listUpstreams(t, s, admin) {
		delete(u, "id")
		delete(u, "url")
		delete(u, "created_at")
		delete(u, "priority")
		shown = append(shown, u)
	}
	require.Len(t, shown, 2)
	require.Equal(t, "failed", shown[0]["status"])
	require.Equal(t, upstreamCheckFailed, shown[0]["error"])
	require.Equal(t, shown[0], shown[1])
}

func listUpstreams(t *testing.T, s *stack, token string) []map[string]any {
	res, body := s.do("GET", "/composer/acme/api/upstreams", token, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	var ups []map[string]any
	require.NoError(t, json.Unmarshal(body, &ups), string(body))
	return ups
}

// TestDistOnAnotherLocalServer: the upstream's metadata names an archive on
// a second local server. Allowing the upstream's address alone does not
// allow the second: the download is refused with the generic message and
// nothing is stored. Listed, the download works, and the upstream's
// credentials never reach the second origin, directly or by redirect.
func TestDistOnAnotherLocalServer(t *testing.T) {
	t.Run("refused unless listed", func(t *testing.T) {
		f := newFixtureRepo(t)
		zip := f.files["/dists/log-2.zip"]
		other := newOriginOn(t, "127.0.0.2", zip)
		pointDistsAt(f, other.srv.URL+"/log-2.zip")
		s := ssrfStack(t, "127.0.0.1/32")
		read := s.token("acme", metadata.RoleRead)
		_, err := s.proxy.AddUpstream(t.Context(), "acme", f.input())
		require.NoError(t, err)

		res, body := s.do("GET", distOfLog2(t, s, read), read, nil)
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, string(body))
		require.Contains(t, string(body), outbound.Message)
		require.NotContains(t, string(body), "127.0.0.2")
		require.NotContains(t, string(body), strings.TrimPrefix(other.srv.URL, "http://127.0.0.2"))
		hits, _ := other.seen()
		require.Zero(t, hits, "the refused address is never dialed")
		require.Zero(t, mirroredCount(t, s), "nothing stored")
	})
	t.Run("listed: allowed, without the credentials", func(t *testing.T) {
		f := newFixtureRepo(t)
		zip := f.files["/dists/log-2.zip"]
		other := newOriginOn(t, "127.0.0.2", zip)
		pointDistsAt(f, other.srv.URL+"/log-2.zip")
		s := ssrfStack(t, "127.0.0.0/8")
		read := s.token("acme", metadata.RoleRead)
		_, err := s.proxy.AddUpstream(t.Context(), "acme", f.input())
		require.NoError(t, err)

		res, body := s.do("GET", distOfLog2(t, s, read), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, zip, body)
		hits, auth := other.seen()
		require.Equal(t, 1, hits)
		require.Empty(t, auth, "the upstream's credentials stay with the upstream")
	})
	t.Run("a redirect to another origin drops the credentials", func(t *testing.T) {
		f := newFixtureRepo(t)
		// Another port of the same address is another origin; the fixture
		// answers its own archive URL (with its credentials) by a redirect.
		other := newOriginOn(t, "127.0.0.1", f.files["/dists/log-2.zip"])
		f.mu.Lock()
		f.redirects = map[string]string{"/dists/log-2.zip": other.srv.URL + "/log-2.zip"}
		f.mu.Unlock()
		s := ssrfStack(t, "127.0.0.0/8")
		read := s.token("acme", metadata.RoleRead)
		_, err := s.proxy.AddUpstream(t.Context(), "acme", f.input())
		require.NoError(t, err)

		res, body := s.do("GET", distOfLog2(t, s, read), read, nil)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		hits, auth := other.seen()
		require.Equal(t, 1, hits)
		require.Empty(t, auth, "Authorization is not sent along a redirect to another origin")
	})
}

// TestGitSourceChecks: a repository on packyard's own machine is
// registered only by the operator, and an http(s) git URL on a refused
// address not at all.
func TestGitSourceChecks(t *testing.T) {
	s := ssrfStack(t)
	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": `{"name":"acme/x"}`})
	ctx := t.Context()
	for _, u := range []string{g.Dir, "file://" + g.Dir} {
		_, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: u})
		require.ErrorIs(t, err, errs.ErrInvalidArgument, u)
		require.ErrorContains(t, err, "only by the operator")
	}
	_, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: "http://127.0.0.1:1/x.git"})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	_, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: "http://169.254.169.254/x.git"})
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	srcs, err := s.svc.Sources(ctx, "acme")
	require.NoError(t, err)
	require.Empty(t, srcs)
	_, _, err = s.svc.AddSource(ctx, "acme", SourceInput{URL: "file://" + g.Dir, Operator: true})
	require.NoError(t, err)
}

// TestGitOverSSHNeverConnectsToRefusedAddress: an ssh git source on an
// address the outbound policy refuses is never connected to: a literal
// address is refused when the source is added, a name that resolves to it
// when the sync dials. The listener records every connection; none
// arrives, and the sync fails with the generic message.
func TestGitOverSSHNeverConnectsToRefusedAddress(t *testing.T) {
	s := ssrfStack(t)
	l := testenv.ListenCounting(t)
	port := l.Port()

	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(key, "")
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(key)
	require.NoError(t, err)
	hostKey := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	in := func(host string) SourceInput {
		return SourceInput{URL: "ssh://git@" + net.JoinHostPort(host, port) + "/x.git", SSHKey: string(pem.EncodeToMemory(block)),
			KnownHosts: fmt.Sprintf("[%s]:%s %s\n", host, port, hostKey)}
	}
	ctx := t.Context()

	_, _, err = s.svc.AddSource(ctx, "acme", in("127.0.0.1"))
	require.ErrorIs(t, err, errs.ErrInvalidArgument)
	require.ErrorContains(t, err, "127.0.0.1 is a loopback address")

	src, _, err := s.svc.AddSource(ctx, "acme", in("localhost"))
	require.NoError(t, err, "a name is checked when it is dialed")
	rep, err := s.svc.SyncSource(ctx, src.ID)
	require.ErrorIs(t, err, errs.ErrUnavailable)
	require.Contains(t, rep.Error, outbound.Message)
	for _, detail := range []string{"127.0.0.1", "loopback", "dial", "refused"} {
		require.NotContains(t, rep.Error, detail, "the address reached stays in the log")
	}
	var refused *outbound.RefusedError
	require.ErrorAs(t, err, &refused)
	time.Sleep(100 * time.Millisecond) // a connection made would have been accepted by now
	require.Zero(t, l.Accepted(), "no connection reached the refused address")
}

// TestUpstreamAddedOverAPIServesOnceChecked: an upstream added over the
// API serves nothing until its check passed; one whose check failed (no
// packages.json yet) is checked again by the periodic worker and serves
// from then on.
func TestUpstreamAddedOverAPIServesOnceChecked(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.Upstream.Timeout = 2 * time.Second
	s := newStack(t, stackOpts{cfg: &cfg})
	s.org("acme")
	admin := s.token("acme", metadata.RoleAdmin)
	read := s.token("acme", metadata.RoleRead)
	f := newFixtureRepo(t)
	f.mu.Lock()
	root := f.files["/packages.json"]
	delete(f.files, "/packages.json")
	f.mu.Unlock()

	reqBody := fmt.Sprintf(`{"url":%q,"username":%q,"password":%q}`, f.srv.URL, f.user, f.pass)
	res, body := s.do("POST", "/composer/acme/api/upstreams", admin, strings.NewReader(reqBody))
	require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
	s.proxy.checks.wg.Wait()
	res, _ = s.do("GET", "/composer/acme/p2/pub/log.json", read, nil)
	require.Equal(t, http.StatusNotFound, res.StatusCode, "a failed upstream is not asked for readers")
	asked := f.total()

	f.mu.Lock()
	f.files["/packages.json"] = root
	f.mu.Unlock()
	s.proxy.recheck(t.Context())
	require.Equal(t, asked, f.total(), "not before its outcome is shown")
	time.Sleep(cfg.Upstream.Timeout + checkGrace)
	s.proxy.recheck(t.Context())
	ups := listUpstreams(t, s, admin)
	require.Len(t, ups, 1)
	require.Equal(t, "ok", ups[0]["status"])
	res, body = s.do("GET", "/composer/acme/p2/pub/log.json", read, nil)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
}
