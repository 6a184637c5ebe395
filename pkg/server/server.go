package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
)

// Params are the server's dependencies.
type Params struct {
	fx.In
	Config     Config
	Logger     *zap.Logger
	Authn      access.Middleware // authenticates every request (auth.NewMiddleware)
	Authz      access.Authorizer
	Registry   *prometheus.Registry
	Checks     []Check               `group:"readiness"`
	Ecosystems []ecosystem.Ecosystem `group:"ecosystems"`
	Ready      MigrationsDone        // the database is migrated before the listener opens
	Routes     []Route               `group:"routes"`
}

// Route is a kernel-level route on the outer mux (sign-in, audit, token
// exchange), provided to the fx group "routes" by the packages that own it.
// Its handler runs behind the kernel's middleware like every other route.
type Route struct {
	Pattern string // http.ServeMux pattern, e.g. "GET /api/v1/audit"
	Handler http.Handler
}

// MigrationsDone is provided by the kernel once the database is migrated;
// taking it orders start-up.
type MigrationsDone struct{}

// Server is packyard's HTTP server.
type Server struct {
	cfg      Config
	log      *zap.Logger
	echo     *echo.Echo
	mux      *http.ServeMux
	handler  http.Handler
	authz    access.Authorizer
	http     *http.Server
	ln       net.Listener
	metrics  *http.Server // the separate metrics listener (PACKYARD_METRICS_ADDR), or nil
	metricLn net.Listener
	prefixes map[string]string // registered prefix -> ecosystem
	current  string            // ecosystem registering now
}

// New builds the server and registers every ecosystem, sorted by name.
func New(p Params) (*Server, error) {
	s := &Server{cfg: p.Config, log: p.Logger.Named("http"), mux: http.NewServeMux(), authz: p.Authz,
		prefixes: map[string]string{}}
	m, err := newMetrics(p.Registry)
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.echoError
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(echoRoute)
	s.echo = e

	s.handle("GET /healthz", http.HandlerFunc(healthz))
	s.handle("GET /readyz", readyz(p.Checks, 5*time.Second, func(ctx context.Context, name string, err error) {
		logging.FromContext(ctx, s.log).Warn("readiness check failed", zap.String("dependency", name), zap.Error(err))
	}))
	s.handle("GET /api/v1/whoami", http.HandlerFunc(whoami))
	for _, rt := range p.Routes {
		s.handle(rt.Pattern, rt.Handler)
	}
	s.mux.Handle("/", e) // Echo names its own routes

	ecos := append([]ecosystem.Ecosystem(nil), p.Ecosystems...)
	sort.Slice(ecos, func(i, j int) bool { return ecos[i].Name() < ecos[j].Name() })
	seen := map[string]bool{}
	for _, eco := range ecos {
		if seen[eco.Name()] {
			return nil, fmt.Errorf("server: ecosystem %q registered twice", eco.Name())
		}
		seen[eco.Name()] = true
		s.current = eco.Name()
		if err := eco.Register(s); err != nil {
			return nil, fmt.Errorf("server: register ecosystem %q: %w", eco.Name(), err)
		}
	}
	s.current = ""

	var h http.Handler = s.mux
	h = bodyLimit(p.Config.MaxBodySize)(h)
	h = p.Authn(h)
	exposition := protectMetrics(m.handler, p.Config.MetricsToken)
	if p.Config.MetricsAddr == "" {
		h = serveMetricsBefore(exposition, h)
	} else {
		s.metrics = s.newHTTPServer(p.Config.MetricsAddr, metricsOnly(exposition), nil)
		// The exposition has no body and is small: plain whole-request timeouts.
		s.metrics.ReadTimeout, s.metrics.WriteTimeout = p.Config.ReadHeaderTimeout, p.Config.WriteTimeout
	}
	h = accessLog(p.Logger.Named("access"), m, p.Config)(h)
	s.handler = h

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true) // h2c for gRPC clients
	s.http = s.newHTTPServer(p.Config.Addr, h, &protocols)
	return s, nil
}

// newHTTPServer is a listener's server with the configured header and idle
// timeouts; bodies and responses get progress deadlines from the access-log
// middleware (see progress), never one whole-request deadline that would cut
// a large upload or dist that keeps moving.
func (s *Server) newHTTPServer(addr string, h http.Handler, protocols *http.Protocols) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		Protocols:         protocols,
		ErrorLog:          zap.NewStdLog(s.log.WithOptions(zap.IncreaseLevel(zap.WarnLevel))),
	}
}

// Handler is the whole request pipeline (for tests and benchmarks).
func (s *Server) Handler() http.Handler { return s.handler }

// Addr is the address the listener is bound to (after Start).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// MetricsAddr is the address of the separate metrics listener (after
// Start; nil without PACKYARD_METRICS_ADDR).
func (s *Server) MetricsAddr() net.Addr {
	if s.metricLn == nil {
		return nil
	}
	return s.metricLn.Addr()
}

// Start opens the listeners (a busy port fails start-up) and serves in the background.
func (s *Server) Start(ctx context.Context, onFatal func(error)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (PACKYARD_HTTP_ADDR): %w", s.cfg.Addr, err)
	}
	tlsOn := s.cfg.TLSCertFile != ""
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS certificate (PACKYARD_TLS_CERT_FILE, PACKYARD_TLS_KEY_FILE): %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"}}
		ln = tls.NewListener(ln, s.http.TLSConfig)
	}
	if s.metrics != nil {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (PACKYARD_METRICS_ADDR): %w", s.cfg.MetricsAddr, err)
		}
		s.metricLn = mln
		s.log.Info("metrics listening", zap.String("addr", mln.Addr().String()))
		go s.serve(s.metrics, mln, onFatal)
	}
	s.ln = ln
	s.log.Info("listening", zap.String("addr", ln.Addr().String()), zap.Bool("tls", tlsOn))
	go s.serve(s.http, ln, onFatal)
	return nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener, onFatal func(error)) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("server stopped", zap.Error(err))
		onFatal(err)
	}
}

// Stop drains connections until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	s.log.Info("shutting down")
	if s.metrics != nil {
		if err := s.metrics.Shutdown(ctx); err != nil {
			_ = s.metrics.Close()
		}
	}
	if err := s.http.Shutdown(ctx); err != nil {
		return s.http.Close()
	}
	return nil
}

// --- ecosystem.Router ---

var _ ecosystem.Router = (*Server)(nil)

func (s *Server) claim(prefix string) {
	if prefix == "" { // the web UI's root group: its pages never shadow a static prefix (Echo prefers those)
		return
	}
	for p, owner := range s.prefixes {
		if owner != s.current && (strings.HasPrefix(prefix, p) || strings.HasPrefix(p, prefix)) {
			s.log.Warn("overlapping route prefixes", zap.String("prefix", prefix), zap.String("other", p), zap.String("owner", owner))
		}
	}
	s.prefixes[prefix] = s.current
}

// Group implements ecosystem.Router.
func (s *Server) Group(prefix string, m ...echo.MiddlewareFunc) *echo.Group {
	s.claim(prefix)
	return s.echo.Group(prefix, m...)
}

// Handle implements ecosystem.Router.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.claim(pattern)
	s.handle(pattern, h)
}

// handle registers a handler on the outer mux that names its pattern as
// the metrics route.
func (s *Server) handle(pattern string, h http.Handler) { s.mux.Handle(pattern, muxRoute(pattern, h)) }

// ConnectOptions implements ecosystem.Router.
func (s *Server) ConnectOptions() []connect.HandlerOption {
	return ConnectOptions(s.log, s.cfg.MaxBodySize)
}

// ConnectOptions are the kernel's handler options for Connect services on a
// listener that accepts bodies of up to maxBody bytes: codecs whose decoding
// errors name no Go type, the procedure named as the metrics route, errs
// categories mapped to Connect codes (the client reads the public message,
// the log the detail), the read limit and compression. Ecosystems get them
// through ecosystem.Router; tests that serve Connect handlers without a
// Server use them directly.
func ConnectOptions(log *zap.Logger, maxBody int64) []connect.HandlerOption {
	return append(codecs(),
		connect.WithInterceptors(routeInterceptor{}, errorInterceptor{log: log}),
		connect.WithReadMaxBytes(int(min(maxBody, 1<<30))),
		connect.WithCompressMinBytes(1024),
	)
}

// Require implements ecosystem.Router.
func (s *Server) Require(a access.Action, res func(echo.Context) access.Resource) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, _ := access.PrincipalFrom(c.Request().Context())
			if err := s.authz.Authorize(c.Request().Context(), p, a, res(c)); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// echoError maps errors to status codes once: errs categories, Echo's own
// HTTP errors, and internal errors. The client reads the public message and
// the request id; the log (access.LogError) keeps the detail.
func (s *Server) echoError(err error, c echo.Context) {
	ctx := c.Request().Context()
	if c.Response().Committed {
		access.LogError(ctx, s.log, err)
		return
	}
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	var bte *BodyTimeoutError
	status, msg := 0, ""
	switch {
	case errors.As(err, &mbe):
		status, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)
	case errors.As(err, &bte):
		status, msg = http.StatusRequestTimeout, bte.Error()
	case errs.Category(err) != nil:
		status, msg = errs.HTTPStatus(err), errs.PublicMessage(err)
		access.LogError(ctx, s.log, err)
	case errors.As(err, &he):
		status, msg = he.Code, fmt.Sprint(he.Message)
		if he.Internal != nil { // a binder's error: its text names Go types
			msg = http.StatusText(he.Code)
			access.LogError(ctx, s.log, err)
		}
	default:
		status, msg = http.StatusInternalServerError, errs.PublicMessage(err)
		access.LogError(ctx, s.log, err)
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="`+access.Realm+`", charset="UTF-8"`)
	}
	var hs access.HeaderSetter
	if errors.As(err, &hs) {
		hs.SetHeaders(c.Response().Header())
	}
	errs.SetRetryAfter(c.Response().Header(), status)
	c.Response().Header().Set("Cache-Control", "no-store")
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, access.ErrorBody(ctx, msg))
}

// errorInterceptor maps errs categories to Connect codes with their public
// messages, and logs what the client is not told (access.LogError). The
// response's X-Request-Id header names the request in the log.
type errorInterceptor struct{ log *zap.Logger }

func (i errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		res, err := next(ctx, req)
		if err != nil {
			access.LogError(ctx, i.log, err, zap.String("procedure", req.Spec().Procedure))
			return nil, errs.ToConnect(err)
		}
		return res, nil
	}
}

func (i errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		access.LogError(ctx, i.log, err, zap.String("procedure", conn.Spec().Procedure))
		return errs.ToConnect(err)
	}
}

// whoami tells a caller who their token says they are: a quick check of a
// token and its scope.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		access.WriteError(w, r, nil, fmt.Errorf("no credentials: send a token as the Basic password or as a Bearer token: %w", errs.ErrUnauthenticated))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"user": p.UserName, "site_admin": p.SiteAdmin, "token_id": p.TokenID, "scope": p.Scope, "method": p.Method,
	})
}
