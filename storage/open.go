// Package storage holds packyard's storage drivers and picks them: blobs
// (filesystem, s3; memory for tests), the metadata database (sqlite,
// postgres) and the cache (cache/memory, cache/redis). The contracts they
// implement live in pkg (pkg/blob, pkg/sqldb with pkg/metadata, pkg/cache)
// beside their conformance suites, which every driver runs.
//
// This file is the one place that selects a driver: one function per port,
// each an explicit switch on the configuration, and Describe, the start-up
// log line, built from the same selection. Opening does no network I/O;
// what needs the network (a ping, creating the bucket) is returned as a
// step for the caller to run at start.
package storage

import (
	"context"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/storage/cache/memory"
	"github.com/packyard/packyard/storage/cache/redis"
	"github.com/packyard/packyard/storage/filesystem"
	"github.com/packyard/packyard/storage/postgres"
	"github.com/packyard/packyard/storage/s3"
	"github.com/packyard/packyard/storage/sqlite"
)

// The drivers, as the configuration selects them and the logs name them.
const (
	SQLite     = "sqlite"
	Postgres   = "postgres"
	Filesystem = "filesystem"
	S3         = "s3"
	Memory     = "memory"
	Redis      = "redis"
)

// Selection is the driver of one port and where its data lives (without
// credentials).
type Selection struct {
	Driver string
	Where  string
}

// DatabaseDriver selects the metadata database: PostgreSQL when
// PACKYARD_DATABASE_URL is set, else the SQLite file in the data directory.
func (c Config) DatabaseDriver() Selection {
	switch {
	case c.DatabaseURL != "":
		return Selection{Postgres, config.Redact(c.DatabaseURL)}
	default:
		return Selection{SQLite, filepath.Join(c.DataDir, "packyard.db")}
	}
}

// BlobDriver selects the blob store: S3 when PACKYARD_S3_ENDPOINT is set,
// else the filesystem under the data directory.
func (c Config) BlobDriver() Selection {
	switch {
	case c.S3.Endpoint != "":
		return Selection{S3, c.S3.String()}
	default:
		return Selection{Filesystem, filepath.Join(c.DataDir, "blobs")}
	}
}

// CacheDriver selects the cache: Redis when PACKYARD_REDIS_URL is set,
// else the in-process memory cache.
func (c Config) CacheDriver() Selection {
	switch {
	case c.RedisURL != "":
		return Selection{Redis, config.Redact(c.RedisURL)}
	default:
		return Selection{Memory, ""}
	}
}

// Describe is the start-up log line: "using sqlite at data/packyard.db,
// filesystem blobs at data/blobs, memory cache".
func Describe(c Config) string {
	db, blobs, ca := c.DatabaseDriver(), c.BlobDriver(), c.CacheDriver()
	cacheText := ca.Driver + " cache"
	if ca.Where != "" {
		cacheText += " at " + ca.Where
	}
	return fmt.Sprintf("using %s at %s, %s blobs at %s, %s", db.Driver, db.Where, blobs.Driver, blobs.Where, cacheText)
}

// Database is the opened metadata database.
type Database struct {
	DB *sqldb.DB
	// Check reaches the database once, with an error that names the
	// variable to fix; run it at start, before migrating.
	Check func(ctx context.Context) error
}

// OpenDatabase opens the selected metadata database. PostgreSQL's pool
// connects on first use; SQLite opens its local file.
func OpenDatabase(ctx context.Context, c Config) (Database, error) {
	sel := c.DatabaseDriver()
	switch sel.Driver {
	case Postgres:
		pc := postgres.Config{URL: c.DatabaseURL}
		db, err := postgres.New(pc)
		if err != nil {
			return Database{}, fmt.Errorf("PACKYARD_DATABASE_URL: %w", err)
		}
		return Database{DB: db, Check: func(ctx context.Context) error {
			if err := postgres.Ping(ctx, db, pc); err != nil {
				return fmt.Errorf("PACKYARD_DATABASE_URL: %w", err)
			}
			return nil
		}}, nil
	case SQLite:
		db, err := sqlite.Open(ctx, sqlite.Config{Path: sel.Where})
		if err != nil {
			return Database{}, fmt.Errorf("PACKYARD_DATA_DIR: %w", err)
		}
		return Database{DB: db, Check: func(context.Context) error { return nil }}, nil
	}
	return Database{}, fmt.Errorf("storage: unknown database driver %q", sel.Driver)
}

// Blobs is the opened blob store.
type Blobs struct {
	Store blob.Store
	Ping  func(ctx context.Context) error // readiness
	// Prepare checks the back end and creates what it lacks (S3: the
	// bucket); run it at start.
	Prepare func(ctx context.Context) error
}

// OpenBlobs opens the selected blob store.
func OpenBlobs(ctx context.Context, c Config, log *zap.Logger) (Blobs, error) {
	sel := c.BlobDriver()
	log = log.Named("storage")
	switch sel.Driver {
	case S3:
		st, err := s3.New(ctx, c.S3, log)
		if err != nil {
			return Blobs{}, fmt.Errorf("PACKYARD_S3_ENDPOINT: %w", err)
		}
		return Blobs{Store: st, Ping: st.Ping, Prepare: func(ctx context.Context) error {
			if err := st.EnsureBucket(ctx); err != nil {
				return fmt.Errorf("PACKYARD_S3_ENDPOINT %s, bucket %q: %w", c.S3.Endpoint, c.S3.Bucket, err)
			}
			return nil
		}}, nil
	case Filesystem:
		fs, err := filesystem.New(filesystem.Config{Root: sel.Where}, log)
		if err != nil {
			return Blobs{}, fmt.Errorf("PACKYARD_DATA_DIR: %w", err)
		}
		return Blobs{Store: fs, Ping: fs.Ping, Prepare: func(context.Context) error { return nil }}, nil
	}
	return Blobs{}, fmt.Errorf("storage: unknown blob driver %q", sel.Driver)
}

// Cache is the opened cache.
type Cache struct {
	Cache  cache.Cache
	Locker cache.Locker
	// Ping reports whether a shared cache answers; nil for the memory
	// cache, which always does.
	Ping  func(ctx context.Context) error
	Close func() error
	// Changes is Redis pub/sub (nil for the memory cache).
	Changes *redis.Changes
}

// OpenCache opens the selected cache. Neither driver does network I/O
// here: Redis connects on first use.
func OpenCache(c Config, log *zap.Logger) (Cache, error) {
	sel := c.CacheDriver()
	switch sel.Driver {
	case Redis:
		r, err := redis.New(redis.Config{URL: c.RedisURL, KeyPrefix: c.RedisPrefix}, log.Named("cache"))
		if err != nil {
			return Cache{}, fmt.Errorf("PACKYARD_REDIS_URL: %w", err)
		}
		return Cache{Cache: r, Locker: r, Ping: r.Ping, Close: r.Close, Changes: r.Changes()}, nil
	case Memory:
		m := memory.New(memory.Config{MaxBytes: c.CacheMaxBytes})
		return Cache{Cache: m, Locker: m, Close: func() error { return nil }}, nil
	}
	return Cache{}, fmt.Errorf("storage: unknown cache driver %q", sel.Driver)
}

// The change feeds, as PACKYARD_CHANGE_FEED selects them.
const (
	FeedDatabase = "database"
	FeedRedis    = "redis"
	FeedOff      = "off"
)

// ChangeFeed selects how changes to tokens, memberships, organizations and
// generations reach the processes that keep them in memory: the database's
// own channel (PostgreSQL LISTEN/NOTIFY, SQLite's change counter), Redis
// pub/sub, or none (nothing is kept in memory).
func (c Config) ChangeFeed() Selection {
	switch c.Feed {
	case FeedRedis:
		return Selection{FeedRedis, config.Redact(c.RedisURL)}
	case FeedOff:
		return Selection{FeedOff, ""}
	}
	return Selection{FeedDatabase, c.DatabaseDriver().Driver}
}

// Changes is the selected change feed and the notifier writers announce
// their changes with; both nil when the feed is off.
type Changes struct {
	Feed     changes.Feed
	Notifier changes.Notifier
}

// OpenChanges opens the selected change feed over the opened database and
// cache. It does no network I/O: the feed connects when subscribed.
func OpenChanges(c Config, db *sqldb.DB, ca Cache, log *zap.Logger) (Changes, error) {
	log = log.Named("changes")
	switch sel := c.ChangeFeed(); sel.Driver {
	case FeedOff:
		return Changes{}, nil
	case FeedRedis:
		if ca.Changes == nil {
			return Changes{}, fmt.Errorf("PACKYARD_CHANGE_FEED=redis needs PACKYARD_REDIS_URL")
		}
		return Changes{Feed: ca.Changes, Notifier: ca.Changes}, nil
	case FeedDatabase:
		switch sel.Where {
		case Postgres:
			return Changes{Feed: &postgres.Feed{Config: postgres.Config{URL: c.DatabaseURL}, Log: log},
				Notifier: postgres.Notifier{}}, nil
		case SQLite:
			return Changes{Feed: &sqlite.Feed{DB: db, Log: log}, Notifier: sqlite.Notifier{}}, nil
		}
	}
	return Changes{}, fmt.Errorf("storage: unknown change feed %q", c.Feed)
}
