package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/storage/sqlite"
)

func auditStack(t *testing.T) (*auth.Service, *audit.Store) {
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(t.Context(), db)
	require.NoError(t, err)
	rec := audit.NewStore(db)
	return &auth.Service{Store: metadata.NewSQL(db), Audit: rec}, rec
}

// Every write of the admin service leaves exactly one audit record, with
// the actor the context names.
func TestServiceWritesAreAudited(t *testing.T) {
	s, rec := auditStack(t)
	ctx := audit.WithActor(context.Background(), audit.Actor{Method: "cli", User: "operator"})
	ctx = audit.WithRequest(ctx, audit.Request{ID: "r1", ClientAddr: "192.0.2.1", UserAgent: "test"})

	var tokID string
	var user metadata.User
	steps := []struct {
		name     string
		do       func() error
		action   string
		org      string
		resource string
	}{
		{"create org", func() error { _, err := s.CreateOrg(ctx, "acme", false); return err }, audit.ActionOrgCreate, "acme", "org/acme"},
		{"make public", func() error { return s.SetOrgPublic(ctx, "acme", true) }, audit.ActionOrgUpdate, "acme", "org/acme"},
		{"create user", func() error { _, err := s.CreateUser(ctx, "bob", false); return err }, audit.ActionUserCreate, "", "user/bob"},
		{"add member", func() error { return s.AddMember(ctx, "acme", "bob", metadata.RoleWrite) }, audit.ActionMemberSet, "acme", "member/acme/bob"},
		{"create token (and its bot user)", func() error {
			_, tk, err := s.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead})
			tokID = tk.ID
			return err
		}, audit.ActionTokenCreate, "acme", ""},
		{"revoke token", func() error { return s.RevokeToken(ctx, tokID) }, audit.ActionTokenRevoke, "acme", ""},
		{"first sign-in", func() error {
			var err error
			user, err = s.CreateSignInUser(ctx, "carol", "oidc")
			require.Equal(t, "carol", user.Name)
			return err
		}, audit.ActionUserCreate, "", "user/carol"},
		{"sign-in token", func() error {
			_, _, err := s.CreateUserToken(ctx, auth.UserTokenRequest{UserID: user.ID, Name: "oidc", Expires: 3600e9, Via: "oidc"})
			return err
		}, audit.ActionTokenCreate, "", ""},
		{"rules grant", func() error {
			_, err := s.SyncRoles(ctx, user, []string{"acme"}, map[string]metadata.Role{"acme": metadata.RoleRead})
			return err
		}, audit.ActionMemberSet, "acme", "member/acme/carol"},
		{"rules revoke", func() error {
			_, err := s.SyncRoles(ctx, user, []string{"acme"}, nil)
			return err
		}, audit.ActionMemberRemove, "acme", "member/acme/carol"},
		{"remove member", func() error { return s.RemoveMember(ctx, "acme", "bob") }, audit.ActionMemberRemove, "acme", "member/acme/bob"},
		{"delete user", func() error { return s.DeleteUser(ctx, "bob") }, audit.ActionUserDelete, "", "user/bob"},
		{"delete org", func() error { return s.DeleteOrg(ctx, "acme") }, audit.ActionOrgDelete, "acme", "org/acme"},
	}
	seen := 0
	for _, st := range steps {
		require.NoError(t, st.do(), st.name)
		events, err := rec.List(ctx, audit.Query{})
		require.NoError(t, err)
		require.Len(t, events, seen+1, "%s leaves exactly one record", st.name)
		seen++
		e := events[len(events)-1]
		require.Equal(t, st.action, e.Action, st.name)
		require.Equal(t, st.org, e.Org, st.name)
		if st.resource != "" {
			require.Equal(t, st.resource, e.Resource, st.name)
		} else {
			require.True(t, strings.HasPrefix(e.Resource, "token/"), st.name)
		}
		require.Equal(t, audit.Actor{Method: "cli", User: "operator"}, e.Actor)
		require.Equal(t, "192.0.2.1", e.ClientAddr)
		require.Equal(t, "r1", e.RequestID)
	}

	// A rules sync that changes nothing records nothing; failed writes record nothing.
	_, err := s.SyncRoles(ctx, user, []string{"gone"}, map[string]metadata.Role{"gone": metadata.RoleRead})
	require.NoError(t, err)
	_, err = s.CreateOrg(ctx, "Bad Name", false)
	require.Error(t, err)
	require.Error(t, s.RevokeToken(ctx, "0000000000000000"))
	events, err := rec.List(ctx, audit.Query{})
	require.NoError(t, err)
	require.Len(t, events, seen)
}

// A failed authentication is recorded once with the token's public id, never
// its secret; a successful request records nothing.
func TestMiddlewareRecordsFailedSignIns(t *testing.T) {
	s, rec := auditStack(t)
	ctx := context.Background()
	_, err := s.CreateOrg(ctx, "acme", false)
	require.NoError(t, err)
	good, tk, err := s.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead})
	require.NoError(t, err)
	before, err := rec.List(ctx, audit.Query{})
	require.NoError(t, err)

	h := auth.NewMiddleware(auth.Chain{&auth.TokenAuthenticator{Store: s.Store}}, zap.NewNop(), auth.MiddlewareOptions{Audit: rec})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := access.PrincipalFrom(r.Context())
			require.True(t, ok)
			a, ok := audit.ActorFrom(r.Context())
			require.True(t, ok, "the principal is the audit actor")
			require.Equal(t, p.UserName, a.User)
		}))
	wrong := good[:len(good)-4] + "0000"
	if wrong == good {
		wrong = good[:len(good)-4] + "1111"
	}
	for _, tc := range []struct {
		secret string
		status int
	}{{good, 200}, {wrong, 401}, {"not-a-token", 401}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth("x", tc.secret)
		r.Header.Set("User-Agent", "curl/8")
		h.ServeHTTP(w, r)
		require.Equal(t, tc.status, w.Code)
	}
	events, err := rec.List(ctx, audit.Query{Action: audit.ActionSignInFailed})
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Len(t, before, 2, "org and token creation")
	require.Equal(t, "token/"+tk.ID, events[0].Resource)
	require.Equal(t, tk.ID, events[0].Actor.TokenID)
	require.Equal(t, audit.Failure, events[0].Outcome)
	require.Equal(t, "192.0.2.1", events[0].ClientAddr, "httptest's peer address")
	require.Equal(t, "curl/8", events[0].UserAgent)
	require.Empty(t, events[1].Actor.TokenID, "no id in a malformed token")
	for _, e := range events {
		for _, v := range append([]string{e.Resource, e.Actor.TokenID}, mapValues(e.Details)...) {
			require.NotContains(t, v, wrong[21:], "the secret is never recorded")
			require.NotContains(t, v, "not-a-token")
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
