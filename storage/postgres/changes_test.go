package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/changes/changestest"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/postgres"
)

// LISTEN/NOTIFY: changes arrive at commit, and a terminated listening
// connection is reported and replaced.
func TestChangeFeed(t *testing.T) {
	url := testenv.PostgresURL(t)
	db, err := postgres.Open(t.Context(), postgres.Config{URL: url})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(t.Context(), db)
	require.NoError(t, err)
	changestest.Run(t, changestest.Driver{
		Feed:     &postgres.Feed{Config: postgres.Config{URL: url}, Log: zaptest.NewLogger(t)},
		Writer:   metadata.NewSQL(db, postgres.Notifier{}),
		Notifier: postgres.Notifier{},
		Cut: func(t *testing.T) {
			var n int
			require.NoError(t, db.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = ? AND datname = current_database()`, postgres.ApplicationName).Scan(&n))
			require.Equal(t, 1, n, "the feed's connection is terminated")
		},
	})
}
