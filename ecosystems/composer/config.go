package composer

import (
	"strings"
	"time"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/jobs"
)

// Config is the Composer ecosystem's configuration (PACKYARD_COMPOSER_*).
type Config struct {
	MaxUploadSize int64                // PACKYARD_COMPOSER_MAX_UPLOAD_SIZE: the zip as uploaded
	Archive       format.ArchiveLimits // PACKYARD_COMPOSER_MAX_ARCHIVE_ENTRIES, _MAX_UNCOMPRESSED_SIZE, _MAX_COMPRESSION_RATIO
	SyncInterval  time.Duration        // PACKYARD_COMPOSER_SYNC_INTERVAL: periodic git sync; 0 ("off") disables it
	SyncTimeout   time.Duration        // PACKYARD_COMPOSER_SYNC_TIMEOUT: one source's sync
	// SyncConcurrency is PACKYARD_COMPOSER_SYNC_CONCURRENCY: queued syncs
	// run at once on one replica.
	SyncConcurrency int
	// SyncRetry is the backoff of a queued sync that failed; its attempts
	// end after SyncAttempts. Not configurable by the environment.
	SyncRetry    jobs.Backoff
	SyncAttempts int
	MaxDistSize  int64         // PACKYARD_COMPOSER_MAX_DIST_SIZE: a zip built from a git commit
	CacheTTL     time.Duration // PACKYARD_COMPOSER_CACHE_TTL: cached documents (they are also invalidated on change)
	Upstream     UpstreamConfig
}

// UpstreamConfig governs mirrored upstream repositories.
type UpstreamConfig struct {
	PublicURL string        // PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL: what --packagist adds
	MaxAge    time.Duration // PACKYARD_COMPOSER_UPSTREAM_MAX_AGE: upstream metadata is revalidated after this age
	Timeout   time.Duration // PACKYARD_COMPOSER_UPSTREAM_TIMEOUT: one upstream request (a dist download gets 10 times as long)
	RateLimit float64       // PACKYARD_COMPOSER_UPSTREAM_RATE_LIMIT: upstream requests per second per replica
	Burst     int           // PACKYARD_COMPOSER_UPSTREAM_BURST
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{
		MaxUploadSize:   64 << 20,
		Archive:         format.ArchiveLimits{MaxEntries: 20000, MaxUncompressed: 512 << 20, MaxRatio: 200, MaxManifest: 1 << 20},
		SyncInterval:    15 * time.Minute,
		SyncTimeout:     10 * time.Minute,
		SyncConcurrency: 4,
		SyncRetry:       jobs.Backoff{Base: 10 * time.Second, Max: 15 * time.Minute},
		SyncAttempts:    10,
		MaxDistSize:     256 << 20,
		CacheTTL:        time.Hour,
		Upstream: UpstreamConfig{
			PublicURL: PublicRepositoryURL,
			MaxAge:    5 * time.Minute,
			Timeout:   30 * time.Second,
			RateLimit: 20,
			Burst:     40,
		},
	}
}

// ConfigFromEnv reads PACKYARD_COMPOSER_* variables.
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	d := DefaultConfig()
	c := Config{
		MaxUploadSize: l.Size("PACKYARD_COMPOSER_MAX_UPLOAD_SIZE", d.MaxUploadSize),
		Archive: format.ArchiveLimits{
			MaxEntries:      l.Int("PACKYARD_COMPOSER_MAX_ARCHIVE_ENTRIES", d.Archive.MaxEntries, 1, 10_000_000),
			MaxUncompressed: l.Size("PACKYARD_COMPOSER_MAX_UNCOMPRESSED_SIZE", d.Archive.MaxUncompressed),
			MaxRatio:        int64(l.Int("PACKYARD_COMPOSER_MAX_COMPRESSION_RATIO", int(d.Archive.MaxRatio), 2, 100000)),
			MaxManifest:     d.Archive.MaxManifest,
		},
		SyncTimeout:     l.Duration("PACKYARD_COMPOSER_SYNC_TIMEOUT", d.SyncTimeout),
		SyncConcurrency: l.Int("PACKYARD_COMPOSER_SYNC_CONCURRENCY", d.SyncConcurrency, 1, 256),
		SyncRetry:       d.SyncRetry,
		SyncAttempts:    d.SyncAttempts,
		MaxDistSize:     l.Size("PACKYARD_COMPOSER_MAX_DIST_SIZE", d.MaxDistSize),
		CacheTTL:        l.Duration("PACKYARD_COMPOSER_CACHE_TTL", d.CacheTTL),
		Upstream: UpstreamConfig{
			PublicURL: l.String("PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL", d.Upstream.PublicURL),
			MaxAge:    l.Duration("PACKYARD_COMPOSER_UPSTREAM_MAX_AGE", d.Upstream.MaxAge),
			Timeout:   l.Duration("PACKYARD_COMPOSER_UPSTREAM_TIMEOUT", d.Upstream.Timeout),
			RateLimit: float64(l.Int("PACKYARD_COMPOSER_UPSTREAM_RATE_LIMIT", int(d.Upstream.RateLimit), 1, 100000)),
			Burst:     l.Int("PACKYARD_COMPOSER_UPSTREAM_BURST", d.Upstream.Burst, 1, 100000),
		},
	}
	if err := checkUpstreamURL(c.Upstream.PublicURL); err != nil {
		l.Fail("PACKYARD_COMPOSER_PUBLIC_REPOSITORY_URL", "%s", err.Error())
	}
	if c.Upstream.Timeout <= 0 {
		l.Fail("PACKYARD_COMPOSER_UPSTREAM_TIMEOUT", "must be positive")
	}
	switch v := strings.ToLower(l.String("PACKYARD_COMPOSER_SYNC_INTERVAL", "")); v {
	case "":
		c.SyncInterval = d.SyncInterval
	case "0", "off", "false", "disabled":
		c.SyncInterval = 0
	default:
		c.SyncInterval = l.Duration("PACKYARD_COMPOSER_SYNC_INTERVAL", d.SyncInterval)
	}
	if c.MaxUploadSize > 0 && c.Archive.MaxUncompressed < c.MaxUploadSize {
		l.Fail("PACKYARD_COMPOSER_MAX_UNCOMPRESSED_SIZE", "must be at least PACKYARD_COMPOSER_MAX_UPLOAD_SIZE")
	}
	return c, l.Err()
}
