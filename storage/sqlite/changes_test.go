package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/changes/changestest"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/storage/sqlite"
)

// The change counter: a second handle on the file (as the CLI opens it)
// writes; the feed of the first sees its changes.
func TestChangeFeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "packyard.db")
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = migrations.Up(t.Context(), db)
	require.NoError(t, err)
	other, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	changestest.Run(t, changestest.Driver{
		Feed:     &sqlite.Feed{DB: db, Log: zaptest.NewLogger(t)},
		Writer:   metadata.NewSQL(other, sqlite.Notifier{}),
		Notifier: sqlite.Notifier{},
	})
}
