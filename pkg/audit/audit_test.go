package audit_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/sqlite"
)

func openDB(t *testing.T, driver string) *sqldb.DB {
	var db *sqldb.DB
	var err error
	if driver == "sqlite" {
		db, err = sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "p.db")})
	} else {
		db, err = postgres.Open(t.Context(), postgres.Config{URL: testenv.PostgresURL(t)})
	}
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(t.Context(), db)
	require.NoError(t, err)
	return db
}

// The store keeps every field, fills what the context knows, and selects
// by organization, time and action on both SQL dialects.
func TestStore(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			s := audit.NewStore(openDB(t, driver))
			ctx := audit.WithRequest(context.Background(), audit.Request{ID: "req-1", ClientAddr: "192.0.2.7", UserAgent: "composer/2.8"})
			ctx = audit.WithActor(ctx, audit.Actor{UserID: "u1", User: "alice", TokenID: "0123456789abcdef", Method: "token"})

			t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
			require.NoError(t, s.Record(ctx, audit.Event{Action: "token.create", Org: "acme", Resource: "token/x", Time: t0,
				Details: map[string]string{"scope": "read"}}))
			require.NoError(t, s.Record(ctx, audit.Event{Action: "composer.publish", Org: "acme", Resource: "acme/foo@1.0.0"}))
			require.NoError(t, s.Record(context.Background(), audit.Event{Action: "org.create", Org: "other", Actor: audit.Actor{Method: "cli", User: "root"}}))
			err := s.Record(ctx, audit.Event{Org: "acme"})
			require.ErrorIs(t, err, errs.ErrInvalidArgument, "an event needs an action")

			all, err := s.List(ctx, audit.Query{})
			require.NoError(t, err)
			require.Len(t, all, 3)
			e := all[0]
			require.Equal(t, "token.create", e.Action, "oldest first")
			require.Equal(t, t0, e.Time)
			require.Equal(t, audit.Success, e.Outcome)
			require.Equal(t, audit.Actor{UserID: "u1", User: "alice", TokenID: "0123456789abcdef", Method: "token"}, e.Actor)
			require.Equal(t, "192.0.2.7", e.ClientAddr)
			require.Equal(t, "composer/2.8", e.UserAgent)
			require.Equal(t, "req-1", e.RequestID)
			require.Equal(t, map[string]string{"scope": "read"}, e.Details)
			require.Len(t, e.ID, 32)
			require.Equal(t, audit.Actor{Method: "cli", User: "root"}, all[2].Actor, "an explicit actor wins")
			require.Empty(t, all[2].ClientAddr)

			acme, err := s.List(ctx, audit.Query{Org: "acme"})
			require.NoError(t, err)
			require.Len(t, acme, 2)
			recent, err := s.List(ctx, audit.Query{Org: "acme", Since: time.Now().Add(-time.Minute)})
			require.NoError(t, err)
			require.Len(t, recent, 1)
			require.Equal(t, "composer.publish", recent[0].Action)
			latest, err := s.List(ctx, audit.Query{Limit: 2})
			require.NoError(t, err)
			require.Equal(t, []string{"composer.publish", "org.create"}, []string{latest[0].Action, latest[1].Action}, "the limit keeps the latest")
			byAction, err := s.List(ctx, audit.Query{Action: "org.create"})
			require.NoError(t, err)
			require.Len(t, byAction, 1)

			var exported []string
			require.NoError(t, s.Export(ctx, audit.Query{Org: "acme"}, func(e audit.Event) error {
				exported = append(exported, e.Action)
				return nil
			}))
			require.Equal(t, []string{"token.create", "composer.publish"}, exported)

			long := strings.Repeat("x", 5000)
			require.NoError(t, s.Record(ctx, audit.Event{Action: "x", UserAgent: long}))
			got, err := s.List(ctx, audit.Query{Action: "x"})
			require.NoError(t, err)
			require.Len(t, got[0].UserAgent, 512, "client-chosen text is clipped")
		})
	}
}

func TestParseQuery(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want audit.Query
		err  string
	}{
		{in: "", want: audit.Query{}},
		{in: "org=acme&since=24h", want: audit.Query{Org: "acme", Since: now.Add(-24 * time.Hour)}},
		{in: "since=7d&limit=5&action=signin", want: audit.Query{Since: now.Add(-7 * 24 * time.Hour), Limit: 5, Action: "signin"}},
		{in: "since=2026-04-01T00:00:00Z&until=2026-04-02T00:00:00Z", want: audit.Query{Since: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)}},
		{in: "since=yesterday", err: `since "yesterday"`},
		{in: "since=-1h", err: "positive duration"},
		{in: "until=tomorrow", err: "until"},
		{in: "limit=0", err: "limit"},
		{in: "limit=100001", err: "limit"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := url.ParseQuery(tc.in)
			require.NoError(t, err)
			q, err := audit.ParseQuery(v, now)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.ErrorIs(t, err, errs.ErrInvalidArgument)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, q)
		})
	}
}
