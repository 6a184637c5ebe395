package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoaderNamesBadVariables(t *testing.T) {
	l := NewLoader(Map(map[string]string{
		"PACKYARD_A": "notanumber",
		"PACKYARD_B": "soon",
		"PACKYARD_C": "maybe",
		"PACKYARD_D": "12XB",
		"PACKYARD_E": "ftp://x",
	}))
	l.Int("PACKYARD_A", 1, 0, 10)
	l.Duration("PACKYARD_B", time.Second)
	l.Bool("PACKYARD_C", false)
	l.Size("PACKYARD_D", 1)
	l.URL("PACKYARD_E", "http", "https")
	err := l.Err()
	require.Error(t, err)
	for _, name := range []string{"PACKYARD_A", "PACKYARD_B", "PACKYARD_C", "PACKYARD_D", "PACKYARD_E"} {
		require.Contains(t, err.Error(), name)
	}
}

func TestLoaderDefaultsAndValues(t *testing.T) {
	l := NewLoader(Map(map[string]string{"X_D": "7d", "X_S": "64MiB", "X_B": "yes", "X_I": "5", "X_EMPTY": ""}))
	require.Equal(t, 7*24*time.Hour, l.Duration("X_D", time.Second))
	require.Equal(t, int64(64<<20), l.Size("X_S", 1))
	require.True(t, l.Bool("X_B", false))
	require.Equal(t, 5, l.Int("X_I", 1, 0, 10))
	require.Equal(t, "dflt", l.String("X_EMPTY", "dflt"))
	require.Equal(t, "dflt", l.String("X_UNSET", "dflt"))
	require.NoError(t, l.Err())
}

func TestSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s")
	require.NoError(t, os.WriteFile(p, []byte("hunter2\n"), 0o600))
	l := NewLoader(Map(map[string]string{"S_FILE": p}))
	require.Equal(t, "hunter2", l.Secret("S"))
	require.NoError(t, l.Err())

	l = NewLoader(Map(map[string]string{"S_FILE": p, "S": "x"}))
	l.Secret("S")
	require.ErrorContains(t, l.Err(), "not both")

	l = NewLoader(Map(map[string]string{"S_FILE": "/nonexistent/x"}))
	l.Secret("S")
	require.ErrorContains(t, l.Err(), "S_FILE")
}

func TestRedact(t *testing.T) {
	require.Equal(t, "postgres://u:xxxxx@h/db", Redact("postgres://u:secret@h/db"))
	require.Equal(t, "redis://h:6379/0", Redact("redis://h:6379/0"))
}
