package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/metadata"
)

// Each daemon keeps tokens, users, memberships, organizations and
// generations in memory. These tests make every kind of change through a
// writer other than the daemon that answers (a second kernel over the same
// PostgreSQL, announcing through LISTEN/NOTIFY or Redis pub/sub; the CLI
// writing the daemon's SQLite file) and require the answer to follow
// within one second.

// propagation is the longest a change may take to reach another process.
const propagation = time.Second

// replica is a kernel with the Composer ecosystem registered, as the daemon runs it.
type replica struct {
	k   *harness.Kernel
	svc *composer.Service
}

func newReplica(t *testing.T, backend harness.Backend, env map[string]string) replica {
	t.Helper()
	cfg := composer.DefaultConfig()
	cfg.SyncInterval = 0
	var svc *composer.Service
	k := harness.NewKernel(t, harness.KernelOptions{Backend: backend, Env: env, Modules: []fx.Option{
		fx.Supply(cfg),
		fx.Provide(composer.New, (*composer.Service).Proxy, ecosystem.As(composer.NewEcosystem)),
		fx.Populate(&svc),
	}})
	return replica{k: k, svc: svc}
}

// writer makes changes from outside the replica under test.
type writer struct {
	revoke     func(id string)
	setRole    func(org, user string, role metadata.Role)
	setPublic  func(org string, public bool)
	deleteUser func(name string)
	deleteOrg  func(name string)
	upload     func(org, name, version string)
}

// kernelWriter changes through another kernel's services.
func kernelWriter(t *testing.T, r replica) writer {
	ctx := context.Background()
	return writer{
		revoke: func(id string) { require.NoError(t, r.k.Auth.RevokeToken(ctx, id)) },
		setRole: func(org, user string, role metadata.Role) {
			require.NoError(t, r.k.Auth.AddMember(ctx, org, user, role))
		},
		setPublic:  func(org string, public bool) { require.NoError(t, r.k.Auth.SetOrgPublic(ctx, org, public)) },
		deleteUser: func(name string) { require.NoError(t, r.k.Auth.DeleteUser(ctx, name)) },
		deleteOrg:  func(name string) { require.NoError(t, r.k.Auth.DeleteOrg(ctx, name)) },
		upload: func(org, name, version string) {
			b, err := os.ReadFile(changeZip(t, name))
			require.NoError(t, err)
			_, err = r.svc.Upload(ctx, org, version, bytes.NewReader(b))
			require.NoError(t, err)
		},
	}
}

// cliWriter changes through the packyard binary's admin commands.
func cliWriter(t *testing.T, k *harness.Kernel) writer {
	return writer{
		revoke: func(id string) { k.MustCLI("token", "revoke", id) },
		setRole: func(org, user string, role metadata.Role) {
			k.MustCLI("org", "add-member", org, user, "--role", string(role))
		},
		setPublic: func(org string, public bool) {
			if public {
				k.MustCLI("org", "set-public", org)
			} else {
				k.MustCLI("org", "set-private", org)
			}
		},
		deleteUser: func(name string) { k.MustCLI("user", "delete", name) },
		deleteOrg:  func(name string) { k.MustCLI("org", "delete", name) },
		upload: func(org, name, version string) {
			k.MustCLI("composer", "upload", "--org", org, "--file", changeZip(t, name), "--version", version)
		},
	}
}

func changeZip(t testing.TB, name string) string {
	return harness.ZipPackage(t, map[string]string{"composer.json": `{"name":"` + name + `","require":{"php":">=8.1"}}`})
}

// fetch answers GET path from k with a token ("" for none).
func fetch(t *testing.T, k *harness.Kernel, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, k.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.SetBasicAuth("token", token)
	}
	res, err := k.Client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(res.Body)
	require.NoError(t, err)
	return res.StatusCode, buf.String()
}

// seen waits until the reader answers want, within propagation of the change.
func seen(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	require.Eventually(t, cond, propagation, 5*time.Millisecond, "%s is seen within %s", what, propagation)
	t.Logf("%s seen after %s", what, time.Since(start).Round(time.Millisecond))
}

// changesPropagate runs every kind of change through w and watches r answer.
func changesPropagate(t *testing.T, r replica, w writer) {
	ctx := context.Background()
	k := r.k
	// Set-up through the reader itself.
	k.Org("acme", false)
	_, err := k.Auth.CreateUser(ctx, "bob", false)
	require.NoError(t, err)
	require.NoError(t, k.Auth.AddMember(ctx, "acme", "bob", metadata.RoleAdmin))
	bob, _, err := k.Auth.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleAdmin, User: "bob"})
	require.NoError(t, err)
	bot := k.Token("acme", metadata.RoleRead)
	bot2 := k.Token("acme", metadata.RoleRead)
	b, err := os.ReadFile(changeZip(t, "acme/a"))
	require.NoError(t, err)
	_, err = r.svc.Upload(ctx, "acme", "1.0.0", bytes.NewReader(b))
	require.NoError(t, err)

	status := func(path, token string) int { st, _ := fetch(t, k, path, token); return st }
	p2 := func(token string) string { _, body := fetch(t, k, "/composer/acme/p2/acme/a.json", token); return body }
	const audit = "/api/v1/audit?org=acme"
	const root = "/composer/acme/packages.json"
	// Warm the reader's memory with every answer the changes must replace.
	for range 2 {
		require.Equal(t, http.StatusOK, status(audit, bob))
		require.Equal(t, http.StatusOK, status(root, bot))
		require.Equal(t, http.StatusOK, status(root, bot2))
		require.Equal(t, http.StatusUnauthorized, status(root, ""))
		require.Contains(t, p2(bot), `"1.0.0"`)
		require.NotContains(t, p2(bot), `"1.1.0"`)
	}

	w.upload("acme", "acme/a", "1.1.0")
	seen(t, "a new version (the organization's generation)", func() bool { return strings.Contains(p2(bot), `"1.1.0"`) })

	w.setRole("acme", "bob", metadata.RoleRead)
	seen(t, "a role change", func() bool { return status(audit, bob) == http.StatusForbidden })

	w.setPublic("acme", true)
	seen(t, "a visibility change to public", func() bool { return status(root, "") == http.StatusOK })
	w.setPublic("acme", false)
	seen(t, "a visibility change to private", func() bool { return status(root, "") == http.StatusUnauthorized })

	w.revoke(strings.TrimPrefix(bot, auth.TokenPrefix)[:16])
	seen(t, "a revocation", func() bool { return status(root, bot) == http.StatusUnauthorized })
	require.Equal(t, http.StatusOK, status(root, bot2), "other tokens still work")

	w.deleteUser("bob")
	seen(t, "a user's deletion", func() bool { return status(audit, bob) == http.StatusUnauthorized })

	w.deleteOrg("acme")
	seen(t, "an organization's deletion", func() bool { return status(root, bot2) == http.StatusUnauthorized })
}

// Two replicas over one PostgreSQL (and Redis): what one changes, the
// other sees within a second, through LISTEN/NOTIFY or Redis pub/sub.
func TestChangesReachAnotherReplica(t *testing.T) {
	for _, feed := range []string{"database", "redis"} {
		t.Run(feed, func(t *testing.T) {
			a := newReplica(t, harness.Services, map[string]string{"PACKYARD_CHANGE_FEED": feed})
			shared := map[string]string{"PACKYARD_CHANGE_FEED": feed}
			for _, name := range []string{"PACKYARD_DATABASE_URL", "PACKYARD_REDIS_URL", "PACKYARD_REDIS_PREFIX",
				"PACKYARD_S3_ENDPOINT", "PACKYARD_S3_BUCKET", "PACKYARD_S3_ACCESS_KEY", "PACKYARD_S3_SECRET_KEY"} {
				shared[name] = a.k.Env[name]
			}
			b := newReplica(t, harness.Services, shared)
			waitTrusted(t, a.k)
			waitTrusted(t, b.k)
			changesPropagate(t, b, kernelWriter(t, a))
		})
	}
}

// The CLI writing the daemon's SQLite file: the daemon sees its changes
// within a second through SQLite's change counter.
func TestCLIChangesReachTheDaemonOnSQLite(t *testing.T) {
	r := newReplica(t, harness.Embedded, nil)
	waitTrusted(t, r.k)
	changesPropagate(t, r, cliWriter(t, r.k))
}

// waitTrusted waits until the kernel's change feed is ready, so that the
// tests exercise answers from memory.
func waitTrusted(t *testing.T, k *harness.Kernel) {
	t.Helper()
	c, ok := k.Meta.(interface{ Trusted() bool })
	require.True(t, ok, "the kernel's metadata store keeps the hot reads in memory")
	require.Eventually(t, c.Trusted, 10*time.Second, 10*time.Millisecond, "the change feed becomes ready")
}

// While a replica's change feed is lost it answers from the database, never
// from memory; when the feed is back it starts from an empty memory. The
// replica reaches Redis through a proxy the test cuts, so it misses what the
// other replica publishes meanwhile.
func TestLostFeedFallsBackToTheDatabase(t *testing.T) {
	a := newReplica(t, harness.Services, map[string]string{"PACKYARD_CHANGE_FEED": "redis"})
	redisURL, err := url.Parse(a.k.Env["PACKYARD_REDIS_URL"])
	require.NoError(t, err)
	proxy := startProxy(t, redisURL.Host)
	viaProxy := *redisURL
	viaProxy.Host = proxy.addr
	shared := map[string]string{"PACKYARD_CHANGE_FEED": "redis", "PACKYARD_REDIS_URL": viaProxy.String()}
	for _, name := range []string{"PACKYARD_DATABASE_URL", "PACKYARD_REDIS_PREFIX", "PACKYARD_S3_ENDPOINT",
		"PACKYARD_S3_BUCKET", "PACKYARD_S3_ACCESS_KEY", "PACKYARD_S3_SECRET_KEY"} {
		shared[name] = a.k.Env[name]
	}
	b := newReplica(t, harness.Services, shared)
	waitTrusted(t, a.k)
	waitTrusted(t, b.k)
	trusted := b.k.Meta.(interface{ Trusted() bool }).Trusted

	a.k.Org("acme", false)
	tok := a.k.Token("acme", metadata.RoleRead)
	tok2 := a.k.Token("acme", metadata.RoleRead)
	const root = "/composer/acme/packages.json"
	status := func(token string) int { st, _ := fetch(t, b.k, root, token); return st }
	for range 2 {
		require.Equal(t, http.StatusOK, status(tok))
		require.Equal(t, http.StatusOK, status(tok2))
	}

	proxy.cut()
	require.Eventually(t, func() bool { return !trusted() }, 10*time.Second, 10*time.Millisecond, "the replica notices the lost feed")
	require.NoError(t, a.k.Auth.RevokeToken(context.Background(), strings.TrimPrefix(tok, auth.TokenPrefix)[:16]))
	require.Equal(t, http.StatusUnauthorized, status(tok), "a change it could not hear of is read from the database at once")
	require.Equal(t, http.StatusOK, status(tok2))

	proxy.restore()
	waitTrusted(t, b.k)
	require.Equal(t, http.StatusUnauthorized, status(tok), "memory starts empty when the feed is back")
	require.Equal(t, http.StatusOK, status(tok2))
	require.NoError(t, a.k.Auth.RevokeToken(context.Background(), strings.TrimPrefix(tok2, auth.TokenPrefix)[:16]))
	seen(t, "a revocation after the feed came back", func() bool { return status(tok2) == http.StatusUnauthorized })
}

// proxy forwards TCP connections to a target until cut, which closes the
// listener and every connection; restore listens again on the same address.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{t: t, addr: ln.Addr().String(), target: target}
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(p.t, err)
	p.serve(ln)
}
