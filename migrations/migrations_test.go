package migrations

import (
	"io/fs"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

var name = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

// Both dialects carry the same numbered sequence with the same names, so a
// change is never applied to one database kind only.
func TestDialectsHaveTheSameSequence(t *testing.T) {
	list := func(dialect string) []string {
		fsys, err := FS(dialect)
		require.NoError(t, err)
		entries, err := fs.ReadDir(fsys, ".")
		require.NoError(t, err)
		var names []string
		for i, e := range entries {
			m := name.FindStringSubmatch(e.Name())
			require.NotNil(t, m, "%s/%s: migrations are named NNNNN_name.sql", dialect, e.Name())
			require.Equal(t, i+1, atoi(m[1]), "%s/%s: numbers start at 1 without gaps", dialect, e.Name())
			b, err := fs.ReadFile(fsys, e.Name())
			require.NoError(t, err)
			require.Contains(t, string(b), "-- +goose Up")
			require.Contains(t, string(b), "-- +goose Down")
			names = append(names, e.Name())
		}
		return names
	}
	require.Equal(t, list("sqlite"), list("postgres"))
	_, err := FS("mysql")
	require.Error(t, err)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// A default build applies the embedded files and nothing else: the upgrade
// test's migration exists only with the packyard_test_upgrade build tag.
func TestDefaultBuildHasNoExtraMigration(t *testing.T) {
	require.Empty(t, extraMigrations())
}
