package identity_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/auth/identity"
	"github.com/packyard/packyard/auth/identity/identitytest"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/server"
	"github.com/packyard/packyard/storage/cache/memory"
	"github.com/packyard/packyard/storage/sqlite"
)

// signInStack is an identity service against the in-tree OIDC provider,
// over a real SQLite store.
type signInStack struct {
	op    *identitytest.Provider
	store metadata.Store
	admin *auth.Service
	url   string
}

func newSignInStack(t *testing.T, linkByEmail bool) *signInStack {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(t.Context(), db)
	require.NoError(t, err)
	store := metadata.NewSQL(db)
	rec := audit.NewStore(db)
	admin := &auth.Service{Store: store, Audit: rec}
	op := identitytest.Start(t)
	svc := identity.New(identity.Params{
		Config: identity.Config{OIDC: identity.OIDCConfig{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret,
			Scopes: []string{"openid", "email", "profile"}, UsernameClaim: "preferred_username", TokenTTL: time.Hour,
			LinkByEmail: linkByEmail}},
		Store: store, Admin: admin, Audit: rec, Cache: memory.New(memory.Config{MaxBytes: 1 << 20}),
		Base: server.BaseURL{}, Log: zaptest.NewLogger(t),
	})
	mux := http.NewServeMux()
	for _, rt := range svc.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	op.AllowRedirect(srv.URL + "/auth/oidc/callback")
	return &signInStack{op: op, store: store, admin: admin, url: srv.URL}
}

// signIn runs the browser flow as a provider account and returns the
// packyard user it signed in as.
func (s *signInStack) signIn(t *testing.T, username string) string {
	t.Helper()
	s.op.LoginAs(username)
	jar, _ := cookiejar.New(nil)
	req, _ := http.NewRequest(http.MethodGet, s.url+"/auth/oidc/login", nil)
	req.Header.Set("Accept", "application/json")
	res, err := (&http.Client{Jar: jar, Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))
	var out map[string]string
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	require.NotEmpty(t, out["token"])
	return out["user"]
}

func (s *signInStack) linkedTo(t *testing.T, subject string) string {
	t.Helper()
	id, err := s.store.IdentityUser(t.Context(), s.op.Issuer, subject)
	require.NoError(t, err)
	u, err := s.store.GetUserByID(t.Context(), id)
	require.NoError(t, err)
	return u.Name
}

// A provider account whose preferred_username names an existing user (here
// a site administrator) is not linked to it: a new user is created, with a
// suffix, and the account signs in as that one from then on. A matching
// verified e-mail does not link either unless PACKYARD_OIDC_LINK_BY_EMAIL is on.
func TestFirstSignInNeverLinksByName(t *testing.T) {
	s := newSignInStack(t, false)
	_, err := s.admin.AddUser(t.Context(), metadata.User{Name: "alice", Admin: true, Email: "alice@corp.example"})
	require.NoError(t, err)
	s.op.AddUser(storage.User{ID: "sub-mallory", Username: "alice", Email: "alice@corp.example", EmailVerified: true})

	require.Equal(t, "alice-2", s.signIn(t, "alice"))
	require.Equal(t, "alice-2", s.linkedTo(t, "sub-mallory"))
	require.Equal(t, "alice-2", s.signIn(t, "alice"), "the identity stays with its own user")
	u, err := s.store.GetUser(t.Context(), "alice-2")
	require.NoError(t, err)
	require.False(t, u.Admin)
	users, err := s.store.ListUsers(t.Context())
	require.NoError(t, err)
	require.Len(t, users, 2)
	_, err = s.store.IdentitySubject(t.Context(), s.op.Issuer, users[0].ID)
	require.Error(t, err, "alice is linked to nothing")
}

// With PACKYARD_OIDC_LINK_BY_EMAIL, a first sign-in links to the user an
// administrator gave the address the provider verified; an unverified
// address does not link.
func TestFirstSignInLinksByVerifiedEmail(t *testing.T) {
	s := newSignInStack(t, true)
	_, err := s.admin.AddUser(t.Context(), metadata.User{Name: "alice", Admin: true, Email: "Alice@Corp.example"})
	require.NoError(t, err)
	_, err = s.admin.AddUser(t.Context(), metadata.User{Name: "bob", Email: "bob@corp.example"})
	require.NoError(t, err)
	s.op.AddUser(storage.User{ID: "sub-alice", Username: "a.smith", Email: "alice@corp.example", EmailVerified: true})
	s.op.AddUser(storage.User{ID: "sub-bob", Username: "bob", Email: "bob@corp.example", EmailVerified: false})
	s.op.AddUser(storage.User{ID: "sub-alice-again", Username: "alice2", Email: "alice@corp.example", EmailVerified: true})

	require.Equal(t, "alice", s.signIn(t, "a.smith"), "a verified matching address links")
	require.Equal(t, "alice", s.linkedTo(t, "sub-alice"))
	require.Equal(t, "bob-2", s.signIn(t, "bob"), "an unverified address does not link, nor does the name")
	require.Equal(t, "bob-2", s.linkedTo(t, "sub-bob"))

	// A second account of the same provider with the same address is refused.
	s.op.LoginAs("alice2")
	jar, _ := cookiejar.New(nil)
	req, _ := http.NewRequest(http.MethodGet, s.url+"/auth/oidc/login", nil)
	req.Header.Set("Accept", "application/json")
	res, err := (&http.Client{Jar: jar, Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode, string(b))
	require.Contains(t, string(b), "already linked")
}
