package auth_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/sqlite"
)

// The auth kernel runs against both real metadata drivers.
func TestAuth(t *testing.T) {
	drivers := map[string]func(t *testing.T) metadata.Store{
		"sqlite": func(t *testing.T) metadata.Store {
			db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			_, err = migrations.Up(t.Context(), db)
			require.NoError(t, err)
			return metadata.NewSQL(db)
		},
		"postgres": func(t *testing.T) metadata.Store {
			db, err := postgres.Open(t.Context(), postgres.Config{URL: testenv.PostgresURL(t)})
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			_, err = migrations.Up(t.Context(), db)
			require.NoError(t, err)
			return metadata.NewSQL(db)
		},
	}
	for name, newStore := range drivers {
		t.Run(name, func(t *testing.T) { runAuth(t, newStore(t)) })
	}
}

func request(secret, scheme string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	switch scheme {
	case "basic":
		r.SetBasicAuth("anything", secret)
	case "bearer":
		r.Header.Set("Authorization", "Bearer "+secret)
	}
	return r
}

func runAuth(t *testing.T, store metadata.Store) {
	ctx := t.Context()
	svc := &auth.Service{Store: store}
	authn := &auth.TokenAuthenticator{Store: store}
	policy := &auth.Policy{Store: store}

	_, err := svc.CreateOrg(ctx, "acme", false)
	require.NoError(t, err)
	_, err = svc.CreateOrg(ctx, "pub", true)
	require.NoError(t, err)
	_, err = svc.CreateOrg(ctx, "other", false)
	require.NoError(t, err)

	readText, readTok, err := svc.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead, Name: "ci"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(readText, auth.TokenPrefix))
	require.NotContains(t, string(readTok.Hash), readText, "only the hash is stored")
	writeText, _, err := svc.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleWrite})
	require.NoError(t, err)
	otherText, _, err := svc.CreateToken(ctx, auth.CreateTokenRequest{Org: "other", Scope: metadata.RoleAdmin})
	require.NoError(t, err)

	t.Run("BasicAndBearer", func(t *testing.T) {
		for _, scheme := range []string{"basic", "bearer"} {
			p, err := authn.Authenticate(ctx, request(readText, scheme))
			require.NoError(t, err)
			require.Equal(t, "acme-bot", p.UserName, "a token without a user belongs to the organization's bot")
			require.Equal(t, metadata.RoleRead, p.Scope)
		}
		_, err := authn.Authenticate(ctx, request("", "none"))
		require.ErrorIs(t, err, access.ErrNoCredentials)
		for _, bad := range []string{"nope", readText + "x", flipLast(readText), "pky_0000000000000000_" + strings.Repeat("a", 48)} {
			_, err = authn.Authenticate(ctx, request(bad, "basic"))
			require.ErrorIs(t, err, errs.ErrUnauthenticated, bad)
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Digest x")
		_, err = authn.Authenticate(ctx, r)
		require.ErrorIs(t, err, errs.ErrUnauthenticated)
	})

	t.Run("Policy", func(t *testing.T) {
		reader, _ := authn.Authenticate(ctx, request(readText, "basic"))
		writer, _ := authn.Authenticate(ctx, request(writeText, "basic"))
		stranger, _ := authn.Authenticate(ctx, request(otherText, "basic"))
		acme := access.Resource{Org: "acme"}
		require.NoError(t, policy.Authorize(ctx, reader, access.ActionRead, acme))
		require.ErrorIs(t, policy.Authorize(ctx, reader, access.ActionWrite, acme), errs.ErrPermissionDenied)
		require.NoError(t, policy.Authorize(ctx, writer, access.ActionWrite, acme))
		require.ErrorIs(t, policy.Authorize(ctx, writer, access.ActionAdmin, acme), errs.ErrPermissionDenied)
		// Another organization's token cannot even learn that acme exists.
		require.ErrorIs(t, policy.Authorize(ctx, stranger, access.ActionRead, acme), errs.ErrNotFound)
		require.ErrorIs(t, policy.Authorize(ctx, stranger, access.ActionRead, access.Resource{Org: "missing"}), errs.ErrNotFound)
		// Anonymous: public reads only.
		require.ErrorIs(t, policy.Authorize(ctx, nil, access.ActionRead, acme), errs.ErrUnauthenticated)
		require.NoError(t, policy.Authorize(ctx, nil, access.ActionRead, access.Resource{Org: "pub"}))
		require.ErrorIs(t, policy.Authorize(ctx, nil, access.ActionWrite, access.Resource{Org: "pub"}), errs.ErrUnauthenticated)
		require.ErrorIs(t, policy.Authorize(ctx, stranger, access.ActionWrite, access.Resource{Org: "pub"}), errs.ErrPermissionDenied)
		require.NoError(t, policy.Authorize(ctx, stranger, access.ActionRead, access.Resource{Org: "pub"}))
	})

	t.Run("UserTokens", func(t *testing.T) {
		_, err := svc.CreateUser(ctx, "dana", false)
		require.NoError(t, err)
		_, _, err = svc.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead, User: "dana"})
		require.ErrorIs(t, err, errs.ErrFailedPrecondition, "not a member yet")
		require.NoError(t, svc.AddMember(ctx, "acme", "dana", metadata.RoleRead))
		_, _, err = svc.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleWrite, User: "dana"})
		require.ErrorIs(t, err, errs.ErrFailedPrecondition, "a token cannot exceed the user's role")
		text, _, err := svc.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead, User: "dana"})
		require.NoError(t, err)
		p, err := authn.Authenticate(ctx, request(text, "bearer"))
		require.NoError(t, err)
		require.Equal(t, "dana", p.UserName)
		require.NoError(t, policy.Authorize(ctx, p, access.ActionRead, access.Resource{Org: "acme"}))
		// Removing the membership takes effect at once.
		require.NoError(t, svc.RemoveMember(ctx, "acme", "dana"))
		require.ErrorIs(t, policy.Authorize(ctx, p, access.ActionRead, access.Resource{Org: "acme"}), errs.ErrNotFound)
	})

	t.Run("ExpiryAndRevocation", func(t *testing.T) {
		text, tok, err := svc.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead, Expires: time.Hour})
		require.NoError(t, err)
		_, err = authn.Authenticate(ctx, request(text, "basic"))
		require.NoError(t, err)
		later := &auth.TokenAuthenticator{Store: store, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
		_, err = later.Authenticate(ctx, request(text, "basic"))
		require.ErrorIs(t, err, errs.ErrUnauthenticated)
		require.NoError(t, svc.RevokeToken(ctx, tok.ID))
		_, err = authn.Authenticate(ctx, request(text, "basic"))
		require.ErrorIs(t, err, errs.ErrUnauthenticated)
		list, err := svc.ListTokens(ctx, "acme")
		require.NoError(t, err)
		var found bool
		for _, info := range list {
			if info.ID == tok.ID {
				found = true
				require.False(t, info.Active)
				require.NotNil(t, info.RevokedAt)
			}
		}
		require.True(t, found)
	})

	t.Run("Middleware", func(t *testing.T) {
		var seen *access.Principal
		h := auth.Middleware(authn, zap.NewNop())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen, _ = access.PrincipalFrom(r.Context())
		}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(readText, "basic"))
		require.Equal(t, http.StatusOK, w.Code)
		require.NotNil(t, seen)
		seen = nil
		w = httptest.NewRecorder()
		h.ServeHTTP(w, request("", "none"))
		require.Equal(t, http.StatusOK, w.Code)
		require.Nil(t, seen, "anonymous passes on without a principal")
		w = httptest.NewRecorder()
		h.ServeHTTP(w, request("pky_bad", "basic"))
		require.Equal(t, http.StatusUnauthorized, w.Code)
		require.Contains(t, w.Header().Get("WWW-Authenticate"), "Basic realm=")
		// A Connect client gets a Connect error.
		r := request("pky_bad", "bearer")
		r.Method = http.MethodPost
		r.Header.Set("Content-Type", "application/proto")
		r.Header.Set("Connect-Protocol-Version", "1")
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusUnauthorized, w.Code)
		require.Contains(t, w.Body.String(), "unauthenticated")
	})
}

// flipLast changes the token's last hex digit.
func flipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}
