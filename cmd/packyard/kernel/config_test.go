package kernel

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/config"
)

func TestDefaultsAreEmbedded(t *testing.T) {
	c, err := ConfigFromEnv(config.Map(nil))
	require.NoError(t, err)
	require.Equal(t, "data", c.DataDir)
	require.Equal(t, ":8080", c.Server.Addr)
	require.True(t, c.MigrateOnStart)
	db, blobs, cache := c.Backends()
	require.Equal(t, []string{"sqlite", "filesystem", "memory"}, []string{db, blobs, cache})
}

func TestServicesSelectDrivers(t *testing.T) {
	c, err := ConfigFromEnv(config.Map(map[string]string{
		"PACKYARD_DATABASE_URL":  "postgres://u:p@db:5432/packyard",
		"PACKYARD_S3_ENDPOINT":   "minio:9000",
		"PACKYARD_S3_ACCESS_KEY": "a",
		"PACKYARD_S3_SECRET_KEY": "b",
		"PACKYARD_REDIS_URL":     "redis://cache:6379/0",
	}))
	require.NoError(t, err)
	db, blobs, cache := c.Backends()
	require.Equal(t, []string{"postgres", "s3", "redis"}, []string{db, blobs, cache})
}

func TestBadValuesNameTheirVariables(t *testing.T) {
	_, err := ConfigFromEnv(config.Map(map[string]string{
		"PACKYARD_DATABASE_URL":  "mysql://x",
		"PACKYARD_S3_ENDPOINT":   "https://s3.example/bucket",
		"PACKYARD_REDIS_URL":     "tcp://x",
		"PACKYARD_GC_INTERVAL":   "-5m",
		"PACKYARD_S3_ACCESS_KEY": "only-one",
	}))
	require.Error(t, err)
	for _, v := range []string{"PACKYARD_DATABASE_URL", "PACKYARD_S3_ENDPOINT", "PACKYARD_REDIS_URL", "PACKYARD_GC_INTERVAL", "PACKYARD_S3_ACCESS_KEY"} {
		require.Contains(t, err.Error(), v)
	}
	require.NotContains(t, err.Error(), "only-one", "secret values are never echoed")
}
