package storage

import (
	"path/filepath"
	"strings"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/storage/s3"
)

// Config selects and configures the drivers of the three storage ports.
type Config struct {
	DataDir       string    // PACKYARD_DATA_DIR: the SQLite file, the filesystem blobs, temporary files
	DatabaseURL   string    // PACKYARD_DATABASE_URL: PostgreSQL when set, else SQLite
	S3            s3.Config // PACKYARD_S3_*: S3 blobs when S3.Endpoint is set, else the filesystem
	RedisURL      string    // PACKYARD_REDIS_URL: Redis when set, else the memory cache
	RedisPrefix   string    // PACKYARD_REDIS_PREFIX
	CacheMaxBytes int64     // PACKYARD_CACHE_MAX_SIZE: the memory cache's bound
	Feed          string    // PACKYARD_CHANGE_FEED: database, redis or off
}

// ConfigFromEnv reads the storage variables into l, which collects every
// problem and names its variable.
func ConfigFromEnv(l *config.Loader) Config {
	c := Config{
		DataDir:     l.String("PACKYARD_DATA_DIR", "./data"),
		DatabaseURL: l.Secret("PACKYARD_DATABASE_URL"),
		S3: s3.Config{
			Endpoint:  l.String("PACKYARD_S3_ENDPOINT", ""),
			Bucket:    l.String("PACKYARD_S3_BUCKET", "packyard"),
			AccessKey: l.Secret("PACKYARD_S3_ACCESS_KEY"),
			SecretKey: l.Secret("PACKYARD_S3_SECRET_KEY"),
			Region:    l.String("PACKYARD_S3_REGION", "us-east-1"),
			UseTLS:    l.Bool("PACKYARD_S3_USE_TLS", true),
			Prefix:    l.String("PACKYARD_S3_PREFIX", ""),
		},
		RedisURL:      l.Secret("PACKYARD_REDIS_URL"),
		RedisPrefix:   l.String("PACKYARD_REDIS_PREFIX", "packyard:"),
		CacheMaxBytes: l.Size("PACKYARD_CACHE_MAX_SIZE", 256<<20),
		Feed:          l.String("PACKYARD_CHANGE_FEED", FeedDatabase),
	}
	switch c.Feed {
	case FeedDatabase, FeedOff:
	case FeedRedis:
		if c.RedisURL == "" {
			l.Fail("PACKYARD_CHANGE_FEED", "redis needs PACKYARD_REDIS_URL")
		}
	default:
		l.Fail("PACKYARD_CHANGE_FEED", "must be database, redis or off")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		l.Fail("PACKYARD_DATABASE_URL", "must be a postgres:// URL (leave it empty for the embedded SQLite database)")
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		l.Fail("PACKYARD_REDIS_URL", "must be a redis:// or rediss:// URL (leave it empty for the in-memory cache)")
	}
	if c.S3.Endpoint != "" {
		if strings.Contains(c.S3.Endpoint, "/") {
			l.Fail("PACKYARD_S3_ENDPOINT", "must be host[:port] without scheme or path (use PACKYARD_S3_USE_TLS for https)")
		}
		if (c.S3.AccessKey == "") != (c.S3.SecretKey == "") {
			l.Fail("PACKYARD_S3_ACCESS_KEY", "set both PACKYARD_S3_ACCESS_KEY and PACKYARD_S3_SECRET_KEY, or neither to use the environment's credentials")
		}
	}
	c.DataDir = filepath.Clean(c.DataDir)
	return c
}
