// Package kernel is the composition of packyard's kernel with fx:
// configuration, logging, the metadata store (SQLite or PostgreSQL), the
// blob store (filesystem or S3), the content-addressed store, temporary
// files (pkg/spool), the cache (memory or Redis), authentication and
// authorization, the outbound request policy, and the HTTP server.
// It sits at the top floor beside the binary (cmd/packyard): it is the only
// package that knows every implementation. Core and Server are importable so
// that the binary and tests build the same application.
package kernel

import (
	"time"

	"github.com/packyard/packyard/auth/identity"
	"github.com/packyard/packyard/auth/ratelimit"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/jobs"
	"github.com/packyard/packyard/pkg/logging"
	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/server"
	"github.com/packyard/packyard/storage"
)

// Config is the kernel's configuration, read from PACKYARD_* variables.
type Config struct {
	storage.Config // data directory, database, blobs, cache
	MigrateOnStart bool
	CASMaxSize     int64
	TmpMaxSize     int64 // PACKYARD_TMP_MAX_SIZE: bytes all temporary files may hold together
	GCInterval     time.Duration
	GCGrace        time.Duration
	JobLease       time.Duration // PACKYARD_JOB_LEASE_TIME: a replica's claim on a queued or periodic job, unrenewed
	JobPoll        time.Duration // PACKYARD_JOB_POLL_INTERVAL: how often an idle replica looks for queued jobs
	Log            logging.Config
	Server         server.Config
	RateLimit      ratelimit.Config
	Identity       identity.Config
	Outbound       outbound.Config // PACKYARD_OUTBOUND_ALLOWED_NETWORKS
}

// ConfigFromEnv reads and validates the kernel's variables; the error names
// every variable that is wrong.
func ConfigFromEnv(env config.Env) (Config, error) {
	l := config.NewLoader(env)
	c := Config{
		Config:         storage.ConfigFromEnv(l),
		MigrateOnStart: l.Bool("PACKYARD_MIGRATE_ON_START", true),
		CASMaxSize:     l.Size("PACKYARD_CAS_MAX_BLOB_SIZE", 2<<30),
		TmpMaxSize:     l.Size("PACKYARD_TMP_MAX_SIZE", 8<<30),
		GCInterval:     l.Duration("PACKYARD_GC_INTERVAL", 6*time.Hour),
		GCGrace:        l.Duration("PACKYARD_GC_GRACE", 24*time.Hour),
		JobLease:       l.Duration("PACKYARD_JOB_LEASE_TIME", jobs.DefaultLease),
		JobPoll:        l.Duration("PACKYARD_JOB_POLL_INTERVAL", jobs.DefaultPoll),
		Log:            logging.ConfigFromEnv(l),
		Server:         server.ConfigFromEnv(l),
		RateLimit:      ratelimit.ConfigFromEnv(l),
		Identity:       identity.ConfigFromEnv(l),
		Outbound:       outbound.ConfigFromEnv(l),
	}
	if c.JobLease < 100*time.Millisecond {
		l.Fail("PACKYARD_JOB_LEASE_TIME", "must be at least 100ms")
	}
	if c.JobPoll <= 0 {
		l.Fail("PACKYARD_JOB_POLL_INTERVAL", "must be positive")
	}
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Backends names the driver the configuration selects for each port.
func (c Config) Backends() (db, blobs, cache string) {
	return c.DatabaseDriver().Driver, c.BlobDriver().Driver, c.CacheDriver().Driver
}
