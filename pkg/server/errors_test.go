package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/errs"
)

// secret is what a driver says and no client may read.
const secret = `failed to connect to host=10.1.2.3 user=pyuser database=pydb: dial tcp 10.1.2.3:5432: connect: connection refused`

// failing is an ecosystem whose routes fail the ways a store does.
type failing struct{}

func (failing) Name() string { return "failing" }

func (failing) Register(r ecosystem.Router) error {
	g := r.Group("/failing")
	g.GET("/unavailable", func(echo.Context) error {
		return fmt.Errorf("package %q: %w", "acme/foo", errs.Wrap(errs.ErrUnavailable, "database unavailable", errors.New(secret)))
	})
	internal := func(echo.Context) error { return fmt.Errorf("scan: %w", errors.New(secret)) }
	g.GET("/internal", internal)
	g.HEAD("/internal", internal)
	g.GET("/panic", func(echo.Context) error { panic(secret) })
	g.GET("/leaky", func(echo.Context) error {
		return fmt.Errorf("lookup: %w: %w", errs.ErrNotFound, &json.SyntaxError{Offset: 1})
	})
	g.POST("/json", func(c echo.Context) error {
		var v struct {
			Packages []struct{ Name string } `json:"packages"`
		}
		return errs.BadJSON(json.NewDecoder(c.Request().Body).Decode(&v))
	})
	g.POST("/bind", func(c echo.Context) error {
		var v struct {
			N int `json:"n"`
		}
		return c.Bind(&v)
	})
	r.Handle("/test.Failing/Call", connect.NewUnaryHandler("/test.Failing/Call",
		func(_ context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
			switch req.Msg.GetValue() {
			case "unavailable":
				return nil, errs.Wrap(errs.ErrUnavailable, "database unavailable", errors.New(secret))
			case "connect":
				return nil, connect.NewError(connect.CodeInternal, errors.New(secret))
			}
			return nil, errors.New(secret)
		}, r.ConnectOptions()...))
	return nil
}

func newFailingServer(t *testing.T, env ...string) (*httptest.Server, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	vars := map[string]string{}
	for i := 0; i+1 < len(env); i += 2 {
		vars[env[i]] = env[i+1]
	}
	s, err := New(Params{
		Config:     ConfigFromEnv(config.NewLoader(config.Map(vars))),
		Logger:     zap.New(core),
		Authn:      func(h http.Handler) http.Handler { return h },
		Registry:   prometheus.NewRegistry(),
		Ecosystems: []ecosystem.Ecosystem{failing{}},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, logs
}

// logged returns the log entries of the request with id.
func logged(logs *observer.ObservedLogs, id string) []observer.LoggedEntry {
	return logs.Filter(func(e observer.LoggedEntry) bool { return e.ContextMap()["request_id"] == id }).All()
}

func requireNoLeak(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, bad := range []string{"10.1.2.3", "5432", "pyuser", "pydb", "dial tcp", "connection refused", "Go value", "Go struct", "json:", "wrapperspb"} {
			require.NotContains(t, text, bad, what)
		}
	}
}

// Echo's error handler answers the public message with the request id and
// logs the detail under that id.
func TestEchoErrorsArePublic(t *testing.T) {
	ts, logs := newFailingServer(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
		level              zapcore.Level // of the detail's log line; -2: none
	}{
		{"GET", "/failing/unavailable", "", http.StatusServiceUnavailable, `package "acme/foo": database unavailable`, zapcore.ErrorLevel},
		{"GET", "/failing/internal", "", http.StatusInternalServerError, "internal error", zapcore.ErrorLevel},
		{"GET", "/failing/leaky", "", http.StatusNotFound, "not found", -2},
		{"POST", "/failing/json", `{"packages": {"name": 1}}`, http.StatusBadRequest, `invalid JSON: field "packages": expected an array, got object`, zapcore.InfoLevel},
		{"POST", "/failing/bind", `{"n": "x"}`, http.StatusBadRequest, "Bad Request", zapcore.ErrorLevel},
		{"HEAD", "/failing/internal", "", http.StatusInternalServerError, "", zapcore.ErrorLevel},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		res, err := ts.Client().Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, tc.status, res.StatusCode, tc.path)
		id := res.Header.Get(RequestIDHeader)
		require.NotEmpty(t, id)
		var hdr bytes.Buffer
		require.NoError(t, res.Header.Write(&hdr))
		requireNoLeak(t, tc.path, string(b), hdr.String())
		if tc.method != "HEAD" {
			var body map[string]string
			require.NoError(t, json.Unmarshal(b, &body), string(b))
			require.Equal(t, tc.msg, body["error"], tc.path)
			require.Equal(t, id, body["request_id"], "the body names the request the log names")
		}
		if tc.level == -2 {
			continue
		}
		var found bool
		for _, e := range logged(logs, id) {
			if e.Level == tc.level && e.ContextMap()["detail"] != nil {
				found = true
				require.NotEmpty(t, e.ContextMap()["detail"])
			}
		}
		require.True(t, found, "%s %s: the log keeps the detail under request %s", tc.method, tc.path, id)
	}
	// The driver's text is in the log, tied to the request.
	res, err := ts.Client().Get(ts.URL + "/failing/unavailable")
	require.NoError(t, err)
	res.Body.Close()
	entries := logged(logs, res.Header.Get(RequestIDHeader))
	var details []string
	for _, e := range entries {
		if d, ok := e.ContextMap()["detail"].(string); ok {
			details = append(details, d)
		}
	}
	require.Contains(t, strings.Join(details, "\n"), secret)
}

// The Connect interceptor answers the public message; the response's
// X-Request-Id names the request, and the log keeps the detail.
func TestConnectErrorsArePublic(t *testing.T) {
	ts, logs := newFailingServer(t)
	client := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](ts.Client(), ts.URL+"/test.Failing/Call")
	for value, want := range map[string]struct {
		code connect.Code
		msg  string
	}{
		"unavailable": {connect.CodeUnavailable, "database unavailable"},
		"internal":    {connect.CodeInternal, "internal error"},
		"connect":     {connect.CodeInternal, "internal error"},
	} {
		_, err := client.CallUnary(t.Context(), connect.NewRequest(wrapperspb.String(value)))
		var ce *connect.Error
		require.ErrorAs(t, err, &ce, value)
		require.Equal(t, want.code, ce.Code(), value)
		require.Equal(t, want.msg, ce.Message(), value)
		requireNoLeak(t, value, ce.Error(), fmt.Sprint(ce.Meta()))
		id := ce.Meta().Get(RequestIDHeader)
		require.NotEmpty(t, id, "the error's headers carry the request id")
		var found bool
		for _, e := range logged(logs, id) {
			if d, _ := e.ContextMap()["detail"].(string); strings.Contains(d, secret) && e.Level == zapcore.ErrorLevel {
				found = true
				require.Equal(t, "/test.Failing/Call", e.ContextMap()["procedure"])
			}
		}
		require.True(t, found, "%s: the detail is logged under request %s", value, id)
	}

	// A body that does not decode is answered without the message's Go type.
	for ct, body := range map[string]string{"application/proto": "\xff\xff\xff", "application/json": `{"value": 1}`} {
		req, _ := http.NewRequest("POST", ts.URL+"/test.Failing/Call", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		res, err := ts.Client().Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusBadRequest, res.StatusCode, string(b))
		requireNoLeak(t, ct, string(b))
		require.NotContains(t, string(b), "StringValue", ct)
		require.NotContains(t, string(b), "unmarshal into", ct)
		require.Contains(t, string(b), "the request is not", ct)
	}
}

// The auth middleware's WriteError renders the same body and logs the same
// way as the other edges.
func TestWriteErrorIsPublic(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := New(Params{
		Config: ConfigFromEnv(config.NewLoader(config.Map(nil))),
		Logger: zap.New(core),
		Authn: func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				access.WriteError(w, r, connect.NewErrorWriter(),
					fmt.Errorf("token abc: %w", errs.Wrap(errs.ErrUnavailable, "database unavailable", errors.New(secret))))
			})
		},
		Registry: prometheus.NewRegistry(),
	})
	require.NoError(t, err)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	res, err := ts.Client().Get(ts.URL + "/api/v1/whoami")
	require.NoError(t, err)
	var body access.APIError
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	res.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.Equal(t, "token abc: database unavailable", body.Error.Message)
	require.Equal(t, "unavailable", body.Error.Code)
	id := res.Header.Get(RequestIDHeader)
	require.Equal(t, id, body.Error.RequestID)
	entries := logged(logs, id)
	require.NotEmpty(t, entries)
	require.Contains(t, fmt.Sprint(entries[0].ContextMap()["detail"]), secret)

	client := connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](ts.Client(), ts.URL+"/test.Failing/Call")
	_, err = client.CallUnary(t.Context(), connect.NewRequest(wrapperspb.String("x")))
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, connect.CodeUnavailable, ce.Code())
	require.Equal(t, "token abc: database unavailable", ce.Message())
	require.NotEmpty(t, ce.Meta().Get(RequestIDHeader))
	requireNoLeak(t, "connect", ce.Error())
}

// The middleware outside Echo (a recovered panic, a body over the limit)
// answers the same JSON body, naming the request.
func TestMiddlewareErrorsNameTheRequest(t *testing.T) {
	ts, logs := newFailingServer(t, "PACKYARD_HTTP_MAX_BODY_SIZE", "16")
	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"GET", "/failing/panic", "", http.StatusInternalServerError, "internal error"},
		{"POST", "/failing/json", strings.Repeat("x", 64), http.StatusRequestEntityTooLarge, "request body too large"},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		res, err := ts.Client().Do(req)
		require.NoError(t, err)
		var body map[string]string
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		res.Body.Close()
		require.Equal(t, tc.status, res.StatusCode, tc.path)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		require.Equal(t, tc.msg, body["error"])
		require.Equal(t, res.Header.Get(RequestIDHeader), body["request_id"])
		requireNoLeak(t, tc.path, fmt.Sprint(body))
	}
	require.NotEmpty(t, logs.FilterMessage("panic while serving request").All())
}
