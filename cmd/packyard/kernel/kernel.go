package kernel

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/auth/identity"
	"github.com/packyard/packyard/auth/pages"
	"github.com/packyard/packyard/auth/ratelimit"
	"github.com/packyard/packyard/migrations"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/audit/auditapi"
	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cache"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/logging"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/server"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/pkg/web"
	"github.com/packyard/packyard/storage"
)

// Core is the kernel without the listener: what both the daemon and the
// admin CLI need. env is the environment to read configuration from.
func Core(env config.Env) fx.Option {
	return fx.Options(
		fx.Supply(env),
		fx.Provide(
			ConfigFromEnv,
			provideLogger,
			provideStartup,
			server.NewRegistry,
			provideDB,
			provideMetadata,
			provideBlobStore,
			provideSpool,
			provideCAS,
			provideCache,
			provideChanges,
			provideAudit,
			provideAuth,
			provideSecretBox,
			func(c Config) server.BaseURL {
				return server.BaseURL{Fixed: c.Server.BaseURL, TrustProxyHeaders: c.Server.TrustProxyHeaders}
			},
			func(c Config) server.Config { return c.Server },
			// The one policy for requests to URLs users and upstreams supply.
			func(c Config) *outbound.Guard { return outbound.New(c.Outbound) },
		),
		fx.WithLogger(func(l *zap.Logger) fxevent.Logger {
			zl := &fxevent.ZapLogger{Logger: l.Named("fx")}
			zl.UseLogLevel(zapcore.DebugLevel)
			// The CLI prints the cause of a failed start once; fx's own
			// report of it stays at debug level.
			zl.UseErrorLevel(zapcore.DebugLevel)
			return zl
		}),
	)
}

// Server is the kernel plus the HTTP listener and background jobs.
func Server(env config.Env) fx.Option {
	return fx.Options(
		Core(env),
		fx.Provide(server.New, provideMiddleware, provideAuditAPI, provideGuard, provideIdentity,
			func(t *auth.TokenAuthenticator) web.TokenChecker { return t }, provideOIDCSignIn),
		web.Module,
		pages.Module,
		fx.Invoke(cleanSpool, followChanges, startServer, startGC),
	)
}

func provideLogger(c Config) (*zap.Logger, error) {
	return logging.New(c.Log)
}

type dbOut struct {
	fx.Out
	DB    *sqldb.DB
	Done  server.MigrationsDone
	Check server.Check `group:"readiness"`
}

// provideDB opens the configured database (PostgreSQL's pool connects on
// first use) and adds the start-up step that reaches it and, unless
// disabled, migrates it before anything else uses it (under an advisory
// lock on PostgreSQL, so replicas may start together).
func provideDB(lc fx.Lifecycle, c Config, start *Startup, log *zap.Logger) (dbOut, error) {
	d, err := storage.OpenDatabase(context.Background(), c.Config)
	if err != nil {
		return dbOut{}, err
	}
	lc.Append(fx.StopHook(d.DB.Close))
	start.Add(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := d.Check(ctx); err != nil {
			return err
		}
		return migrate(ctx, d.DB, c.MigrateOnStart, log)
	})
	return dbOut{DB: d.DB, Check: server.Check{Name: "database", Ping: d.DB.Ping}}, nil
}

// migrate applies the migrations, or with PACKYARD_MIGRATE_ON_START=false
// only checks that they were applied.
func migrate(ctx context.Context, db *sqldb.DB, onStart bool, log *zap.Logger) error {
	if !onStart {
		cur, latest, err := migrations.Status(ctx, db)
		if err != nil {
			return err
		}
		if cur < latest {
			return fmt.Errorf("database is at version %d but this packyard needs %d: run `packyard migrate` (PACKYARD_MIGRATE_ON_START is false)", cur, latest)
		}
		return nil
	}
	res, err := migrations.Up(ctx, db)
	if err != nil {
		return err
	}
	if len(res.Applied) > 0 {
		log.Info("database migrated", zap.Int64s("applied", res.Applied), zap.Int64("version", res.Current))
	}
	return nil
}

type blobOut struct {
	fx.Out
	Blobs blob.Store
	Check server.Check `group:"readiness"`
}

// provideBlobStore opens the configured blob store and adds the start-up
// step that checks it (S3: creates the bucket when missing).
func provideBlobStore(c Config, start *Startup, log *zap.Logger) (blobOut, error) {
	b, err := storage.OpenBlobs(context.Background(), c.Config, log)
	if err != nil {
		return blobOut{}, err
	}
	start.Add(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return b.Prepare(ctx)
	})
	return blobOut{Blobs: b.Store, Check: server.Check{Name: "blobs", Ping: b.Ping}}, nil
}

type cacheOut struct {
	fx.Out
	Cache  cache.Cache
	Locker cache.Locker
	Opened storage.Cache
	Checks []server.Check `group:"readiness,flatten"`
}

func provideCache(lc fx.Lifecycle, c Config, log *zap.Logger) (cacheOut, error) {
	ca, err := storage.OpenCache(c.Config, log)
	if err != nil {
		return cacheOut{}, err
	}
	lc.Append(fx.StopHook(ca.Close))
	out := cacheOut{Cache: ca.Cache, Locker: ca.Locker, Opened: ca}
	if ca.Ping != nil {
		lc.Append(fx.StartHook(func(ctx context.Context) error {
			// Redis only holds derived data: start even when it is down, but say so.
			if err := ca.Ping(ctx); err != nil {
				log.Warn("redis is not reachable; serving without a shared cache until it is", zap.Error(err))
			}
			return nil
		}))
		out.Checks = []server.Check{{Name: "cache", Ping: ca.Ping}}
	}
	return out, nil
}

type authOut struct {
	fx.Out
	Authn   access.Authenticator
	Authz   access.Authorizer
	Tokens  *auth.TokenAuthenticator
	Service *auth.Service
}

func provideAuth(store metadata.Store, rec audit.Recorder, log *zap.Logger) authOut {
	tokens := &auth.TokenAuthenticator{Store: store}
	return authOut{
		Authn:   auth.Chain{tokens},
		Authz:   &auth.Policy{Store: store},
		Tokens:  tokens,
		Service: &auth.Service{Store: store, Audit: rec, Log: log.Named("auth")},
	}
}

type auditOut struct {
	fx.Out
	Store    *audit.Store
	Recorder audit.Recorder
}

// provideAudit stores audit events in the metadata database. Ecosystems
// take an audit.Recorder to record their writes.
func provideAudit(db *sqldb.DB) auditOut {
	s := audit.NewStore(db)
	return auditOut{Store: s, Recorder: s}
}

// provideGuard limits failed sign-ins (and, when configured, requests per
// token) across replicas through Redis, or in memory without it.
func provideGuard(lc fx.Lifecycle, c Config, log *zap.Logger) (auth.Guard, error) {
	log = log.Named("ratelimit")
	if c.CacheDriver().Driver != storage.Redis {
		return ratelimit.NewGuard(c.RateLimit, ratelimit.NewMemory(), log), nil
	}
	r, err := ratelimit.NewRedis(c.RedisURL, c.RedisPrefix, log)
	if err != nil {
		return nil, fmt.Errorf("PACKYARD_REDIS_URL: %w", err)
	}
	lc.Append(fx.StopHook(r.Close))
	return ratelimit.NewGuard(c.RateLimit, r, log), nil
}

// provideMiddleware authenticates every request, records failed sign-ins in
// the audit log and applies the Guard's rate limits.
func provideMiddleware(authn access.Authenticator, rec audit.Recorder, guard auth.Guard, log *zap.Logger) access.Middleware {
	return auth.NewMiddleware(authn, log.Named("http"), auth.MiddlewareOptions{Audit: rec, Guard: guard})
}

type identityIn struct {
	fx.In
	Config Config
	Store  metadata.Store
	Admin  *auth.Service
	Audit  audit.Recorder
	Guard  auth.Guard
	Cache  cache.Cache
	Base   server.BaseURL
	Log    *zap.Logger
	Site   *web.Site
}

// provideIdentity serves OIDC sign-in, the device flow buf registry login
// uses, and the CI token exchange. Providers are discovered on first use.
func provideIdentity(in identityIn) routesOut {
	s := identity.New(identity.Params{Config: in.Config.Identity, Store: in.Store, Admin: in.Admin, Audit: in.Audit,
		Guard: in.Guard, Cache: in.Cache, Base: in.Base, Log: in.Log.Named("identity"), Sessions: in.Site})
	return routesOut{Routes: s.Routes()}
}

type routesOut struct {
	fx.Out
	Routes []server.Route `group:"routes,flatten"`
}

func provideAuditAPI(s *audit.Store, authz access.Authorizer, log *zap.Logger) routesOut {
	return routesOut{Routes: (&auditapi.API{Store: s, Authz: authz, Log: log.Named("audit")}).Routes()}
}

func startServer(lc fx.Lifecycle, s *server.Server, c Config, sd fx.Shutdowner, log *zap.Logger) {
	db, blobs, ca := c.Backends()
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			log.Info("starting packyard: "+storage.Describe(c.Config),
				zap.String("database", db), zap.String("blobs", blobs), zap.String("cache", ca))
			return s.Start(ctx, func(error) { _ = sd.Shutdown(fx.ExitCode(1)) })
		},
		OnStop: s.Stop,
	})
}

// oidcSignIn tells the web UI's sign-in page where an OIDC sign-in that
// ends in a browser session starts.
type oidcSignIn struct{}

func (oidcSignIn) SignInURL(next string) string {
	return "/auth/oidc/login?next=" + url.QueryEscape(web.LocalPath(next))
}

// provideOIDCSignIn offers OIDC on the sign-in page when it is configured.
func provideOIDCSignIn(c Config) web.OIDCSignIn {
	if !c.Identity.OIDC.Enabled() {
		return nil
	}
	return oidcSignIn{}
}
