package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/ecosystem"
)

// testEcosystem registers an Echo route with parameters and a Connect
// procedure.
type testEcosystem struct{}

func (testEcosystem) Name() string { return "eco" }

func (testEcosystem) Register(r ecosystem.Router) error {
	g := r.Group("/eco")
	g.GET("/:org/items/:name", func(c echo.Context) error { return c.String(http.StatusOK, "item") })
	// Like a generated service handler: one prefix, procedures by path.
	ping := connect.NewUnaryHandler("/test.v1.TestService/Ping",
		func(context.Context, *connect.Request[emptypb.Empty]) (*connect.Response[emptypb.Empty], error) {
			return connect.NewResponse(&emptypb.Empty{}), nil
		}, r.ConnectOptions()...)
	r.Handle("/test.v1.TestService/", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/test.v1.TestService/Ping" {
			http.NotFound(w, req)
			return
		}
		ping.ServeHTTP(w, req)
	}))
	return nil
}

type allowAll struct{}

func (allowAll) Authorize(context.Context, *access.Principal, access.Action, access.Resource) error {
	return nil
}

// refuseCredentials stands in for packyard's authentication: any request
// with an Authorization header is refused, so a test sees which requests
// reach it.
func refuseCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "authentication reached", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func testServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.MaxBodySize == 0 {
		cfg.MaxBodySize = 1 << 20
	}
	s, err := New(Params{Config: cfg, Logger: zaptest.NewLogger(t), Authn: refuseCredentials, Authz: allowAll{},
		Registry: NewRegistry(), Ecosystems: []ecosystem.Ecosystem{testEcosystem{}}})
	require.NoError(t, err)
	return s
}

func serve(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if strings.HasPrefix(path, "/test.v1.") {
		r = httptest.NewRequest(method, path, strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Connect-Protocol-Version", "1")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// exposition scrapes /metrics and returns its series lines (not comments).
func exposition(t *testing.T, h http.Handler, token string) []string {
	t.Helper()
	w := serve(h, http.MethodGet, "/metrics", token)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var series []string
	for _, l := range strings.Split(w.Body.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			series = append(series, l)
		}
	}
	return series
}

func httpSeries(series []string) string {
	var b strings.Builder
	for _, l := range series {
		if strings.HasPrefix(l, "packyard_http_requests_total") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Series are labelled by route template, Connect procedure or "other", and
// by a fixed set of methods: never by what a client put in the path.
func TestMetricsLabelsAreRouteTemplates(t *testing.T) {
	h := testServer(t, Config{}).Handler()
	require.Equal(t, http.StatusOK, serve(h, http.MethodGet, "/eco/acme/items/widget", "").Code)
	require.Equal(t, http.StatusOK, serve(h, http.MethodGet, "/eco/beta/items/gadget", "").Code)
	require.Equal(t, http.StatusOK, serve(h, http.MethodGet, "/healthz", "").Code)
	require.Equal(t, http.StatusOK, serve(h, http.MethodPost, "/test.v1.TestService/Ping", "").Code)
	require.Equal(t, http.StatusNotFound, serve(h, http.MethodPost, "/test.v1.TestService/Secret123", "").Code)
	require.Equal(t, http.StatusNotFound, serve(h, http.MethodGet, "/secret-path-segment/x", "").Code)
	serve(h, "BREW", "/eco/acme/items/widget", "")

	got := httpSeries(exposition(t, h, ""))
	for _, want := range []string{
		`route="/eco/:org/items/:name"`, `route="/healthz"`, `route="/test.v1.TestService/Ping"`,
		`route="/test.v1.TestService/"`, `route="other"`, `method="other"`,
	} {
		require.Contains(t, got, want)
	}
	for _, leak := range []string{"acme", "beta", "widget", "gadget", "Secret123", "secret-path-segment", "BREW"} {
		require.NotContains(t, got, leak)
	}
	require.Equal(t, 1, strings.Count(got, `route="/eco/:org/items/:name",code="200"`)+
		strings.Count(got, `code="200",method="GET",route="/eco/:org/items/:name"`), got)
}

// randomRequest is the i-th of a cycle of request shapes with random path
// segments: unknown top-level paths, unknown paths under an ecosystem, a
// route's template with fresh parameters, unknown Connect procedures and
// services, and unknown methods.
func randomRequest(i int) (method, path string) {
	r := fmt.Sprintf("%x", uint64(i)*0x9e3779b97f4a7c15)
	switch i % 6 {
	case 0:
		return http.MethodGet, "/" + r + "/" + r
	case 1:
		return http.MethodGet, "/eco/" + r
	case 2:
		return http.MethodGet, "/eco/" + r + "/items/" + r
	case 3:
		return http.MethodPost, "/test.v1.TestService/" + r
	case 4:
		return http.MethodPost, "/" + r + ".v1.Service/Method"
	default:
		return "X" + strings.ToUpper(r[:6]), "/" + r
	}
}

// 500 requests to random paths add no series: the exposition has as many
// lines after them as after one round of each request shape.
func TestMetricsSeriesBoundedByRandomPaths(t *testing.T) {
	h := testServer(t, Config{}).Handler()
	exposition(t, h, "") // the scrape's own series
	for i := range 6 {
		m, p := randomRequest(i)
		serve(h, m, p, "")
	}
	before := exposition(t, h, "")
	for i := 6; i < 506; i++ {
		m, p := randomRequest(i)
		serve(h, m, p, "")
	}
	after := exposition(t, h, "")
	require.Equal(t, len(before), len(after), "series added by random paths:\n%s", httpSeries(after))
	require.Less(t, len(after), 400)
}

// With PACKYARD_METRICS_TOKEN, /metrics needs it as a Bearer token; the
// token never reaches packyard's own authentication.
func TestMetricsToken(t *testing.T) {
	h := testServer(t, Config{MetricsToken: "s3cret-metrics"}).Handler()
	w := serve(h, http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusUnauthorized, w.Code)
	require.Contains(t, w.Header().Get("WWW-Authenticate"), "Bearer")
	require.NotContains(t, w.Body.String(), "packyard_http_requests_total")
	require.Equal(t, http.StatusUnauthorized, serve(h, http.MethodGet, "/metrics", "s3cret-metric").Code)
	require.Equal(t, http.StatusUnauthorized, serve(h, http.MethodGet, "/metrics", "s3cret-metrics2").Code)
	require.Contains(t, httpSeries(exposition(t, h, "s3cret-metrics")), `route="/metrics"`)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("from-a-file\n"), 0o600))
	l := config.NewLoader(config.Map(map[string]string{"PACKYARD_METRICS_TOKEN_FILE": filepath.Join(dir, "token")}))
	require.Equal(t, "from-a-file", ConfigFromEnv(l).MetricsToken)
	require.NoError(t, l.Err())
}

// With PACKYARD_METRICS_ADDR, /metrics is served on that listener only.
func TestMetricsSeparateListener(t *testing.T) {
	s := testServer(t, Config{Addr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	require.NoError(t, s.Start(t.Context(), func(err error) { t.Error(err) }))
	t.Cleanup(func() { require.NoError(t, s.Stop(context.Background())) })
	get := func(addr, path string) (int, string) {
		res, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, _ := get(s.Addr().String(), "/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get(s.Addr().String(), "/metrics")
	require.Equal(t, http.StatusNotFound, code, "not on the main listener")
	require.NotContains(t, body, "packyard_http_requests_total")
	code, body = get(s.MetricsAddr().String(), "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `route="/healthz"`)
	code, _ = get(s.MetricsAddr().String(), "/healthz")
	require.Equal(t, http.StatusNotFound, code, "the metrics listener serves nothing else")

	l := config.NewLoader(config.Map(map[string]string{"PACKYARD_HTTP_ADDR": ":9000", "PACKYARD_METRICS_ADDR": ":9000"}))
	ConfigFromEnv(l)
	require.ErrorContains(t, l.Err(), "PACKYARD_METRICS_ADDR")
}
