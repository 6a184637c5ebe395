package redis_test

import (
	"path/filepath"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/changes/changestest"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/testenv"
	"github.com/packyard/packyard/storage/sqlite"
)

// Pub/sub: changes are published at commit; a killed subscription is
// reported and replaced.
func TestChangeFeed(t *testing.T) {
	c := newCache(t, "")
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "packyard.db")})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(t.Context(), db)
	require.NoError(t, err)
	opts, err := goredis.ParseURL(testenv.RedisURL(t))
	require.NoError(t, err)
	admin := goredis.NewClient(opts)
	t.Cleanup(func() { admin.Close() })
	changestest.Run(t, changestest.Driver{
		Feed:     c.Changes(),
		Writer:   metadata.NewSQL(db, c.Changes()),
		Notifier: c.Changes(),
		Cut: func(t *testing.T) {
			require.NoError(t, admin.Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err())
		},
	})
}
