package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns packyard's Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// The metrics' labels have a fixed, small set of values, whatever clients
// send: routes are the templates the server registered (Echo's c.Path(),
// Connect procedures, the outer mux's patterns) or otherRoute, methods are
// the standard ones or "other", codes are three-digit statuses.
const (
	otherRoute  = "other"
	otherMethod = "other"
)

var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return otherMethod
}

func codeLabel(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "packyard_http_requests_total", Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "packyard_http_request_duration_seconds", Help: "HTTP request latency by route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m, nil
}

func (m *metrics) observe(route string, r *http.Request, status int, d time.Duration) {
	if route == "" {
		route = otherRoute
	}
	m.requests.WithLabelValues(route, methodLabel(r.Method), codeLabel(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// routeSlot is where the handler that serves a request names its route
// template; the access log reads it when the request ends.
type routeSlot struct{ name string }

type routeSlotKey struct{}

func withRouteSlot(ctx context.Context) (context.Context, *routeSlot) {
	s := &routeSlot{}
	return context.WithValue(ctx, routeSlotKey{}, s), s
}

// setRoute names the route template serving the request in ctx.
func setRoute(ctx context.Context, name string) {
	if s, ok := ctx.Value(routeSlotKey{}).(*routeSlot); ok && name != "" {
		s.name = name
	}
}

// muxRoute wraps a handler of the outer mux so that it names its pattern
// (without the method: "GET /healthz" is "/healthz"). Echo's and Connect's
// handlers refine it later.
func muxRoute(pattern string, h http.Handler) http.Handler {
	route := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		route = strings.TrimSpace(pattern[i+1:])
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRoute(r.Context(), route)
		h.ServeHTTP(w, r)
	})
}

// echoRoute is Echo middleware (it runs after routing) that names the
// matched route template, e.g. "/composer/:org/p2/:vendor/:file". A request
// no route matches has an empty template and stays otherRoute.
func echoRoute(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		setRoute(c.Request().Context(), c.Path())
		return next(c)
	}
}

// routeInterceptor names the Connect procedure serving a request.
type routeInterceptor struct{}

func (routeInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		setRoute(ctx, req.Spec().Procedure)
		return next(ctx, req)
	}
}

func (routeInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (routeInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		setRoute(ctx, conn.Spec().Procedure)
		return next(ctx, conn)
	}
}

// metricsRoute is the route label and path of the exposition.
const metricsRoute = "/metrics"

// protectMetrics requires "Authorization: Bearer TOKEN" when token is set,
// compared in constant time (of equal-length digests, so that the length
// does not leak either).
func protectMetrics(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="packyard metrics"`)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"metrics need the Bearer token of PACKYARD_METRICS_TOKEN"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// isMetricsRequest tells whether a request asks for the exposition.
func isMetricsRequest(r *http.Request) bool {
	return r.URL.Path == metricsRoute && (r.Method == http.MethodGet || r.Method == http.MethodHead)
}

// serveMetricsBefore answers GET /metrics with h ahead of next (so that its
// Bearer token never reaches packyard's token authentication).
func serveMetricsBefore(h, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isMetricsRequest(r) {
			setRoute(r.Context(), metricsRoute)
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// metricsOnly serves the exposition alone (the separate metrics listener).
func metricsOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isMetricsRequest(r) {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
