// Package kernel is the composition of packyard's kernel with fx:
// configuration, logging, the metadata store (SQLite or PostgreSQL), the
// blob store (filesystem or S3), the content-addressed store, the cache
// (memory or Redis), authentication and authorization, and the HTTP server.
// It sits at the top floor beside the binary (cmd/packyard): it is the only
// package that knows every implementation. Core and Server are importable so
// that the binary and tests build the same application.
package kernel

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/packyard/packyard/auth/identity"
	"github.com/packyard/packyard/auth/ratelimit"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/logging"
	"github.com/packyard/packyard/pkg/server"
)

// Config is the kernel's configuration, read from PACKYARD_* variables.
type Config struct {
	DataDir        string
	DatabaseURL    string
	MigrateOnStart bool
	S3             S3Config
	RedisURL       string
	RedisPrefix    string
	CacheMaxBytes  int64
	CASMaxSize     int64
	GCInterval     time.Duration
	GCGrace        time.Duration
	Log            logging.Config
	Server         server.Config
	RateLimit      ratelimit.Config
	Identity       identity.Config
}

// S3Config selects and configures the S3 blob store.
type S3Config struct {
	Endpoint  string
	Bucket    string
	AccessKey string
	SecretKey string
	Region    string
	UseTLS    bool
	Prefix    string
}

// ConfigFromEnv reads and validates the kernel's variables; the error names
// every variable that is wrong.
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	c := Config{
		DataDir:        l.String("PACKYARD_DATA_DIR", "./data"),
		DatabaseURL:    l.Secret("PACKYARD_DATABASE_URL"),
		MigrateOnStart: l.Bool("PACKYARD_MIGRATE_ON_START", true),
		S3: S3Config{
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
		CASMaxSize:    l.Size("PACKYARD_CAS_MAX_BLOB_SIZE", 2<<30),
		GCInterval:    l.Duration("PACKYARD_GC_INTERVAL", 6*time.Hour),
		GCGrace:       l.Duration("PACKYARD_GC_GRACE", 24*time.Hour),
		Log:           logging.ConfigFromEnv(l),
		Server:        server.ConfigFromEnv(l),
		RateLimit:     ratelimit.ConfigFromEnv(l),
		Identity:      identity.ConfigFromEnv(l),
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
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	c.DataDir = filepath.Clean(c.DataDir)
	return c, nil
}

// Backends describes which drivers the configuration selects.
func (c Config) Backends() (db, blobs, cache string) {
	db, blobs, cache = "sqlite", "filesystem", "memory"
	if c.DatabaseURL != "" {
		db = "postgres"
	}
	if c.S3.Endpoint != "" {
		blobs = "s3"
	}
	if c.RedisURL != "" {
		cache = "redis"
	}
	return
}
