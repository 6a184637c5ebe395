package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
)

const secret = "dial tcp 10.1.2.3:5432: connect: connection refused"

func requestContext(logs *zap.Logger) context.Context {
	ctx := audit.WithRequest(context.Background(), audit.Request{ID: "req-1"})
	return logging.With(ctx, logs.With(zap.String("request_id", "req-1")))
}

func TestWriteError(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	r := httptest.NewRequest("GET", "/api/v1/whoami", nil).WithContext(requestContext(zap.New(core)))
	w := httptest.NewRecorder()
	WriteError(w, r, nil, fmt.Errorf("token abc: %w", errs.Wrap(errs.ErrUnavailable, "database unavailable", errors.New(secret))))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.JSONEq(t, `{"error": {"code": "unavailable", "message": "token abc: database unavailable", "request_id": "req-1"}}`, w.Body.String())
	require.NotContains(t, w.Body.String(), "10.1.2.3")

	// Outside the admin API, the error is the message.
	w = httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/composer/acme/packages.json", nil).WithContext(requestContext(zap.NewNop())), nil,
		errs.NotFoundf("organization %q not found", "acme"))
	require.Equal(t, http.StatusNotFound, w.Code)
	var body map[string]string
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, map[string]string{"error": `organization "acme" not found`, "request_id": "req-1"}, body)

	entries := logs.All()
	require.Len(t, entries, 1)
	require.Equal(t, zapcore.ErrorLevel, entries[0].Level)
	require.Equal(t, "req-1", entries[0].ContextMap()["request_id"])
	require.Equal(t, "token abc: database unavailable: "+secret, entries[0].ContextMap()["detail"])
}

func TestLogErrorLevels(t *testing.T) {
	for _, tc := range []struct {
		err   error
		level zapcore.Level
		msg   string // "" for no line
	}{
		{errors.New(secret), zapcore.ErrorLevel, "request failed"},
		{errs.Wrap(errs.ErrUnavailable, "cache unavailable", errors.New(secret)), zapcore.ErrorLevel, "request failed"},
		{connect.NewError(connect.CodeInternal, errors.New(secret)), zapcore.ErrorLevel, "request failed"},
		{errs.Wrap(errs.ErrUnauthenticated, "JWT does not verify", errors.New("oidc: token is expired")), zapcore.InfoLevel, "request refused"},
		{fmt.Errorf("read: %w", context.Canceled), zapcore.InfoLevel, "request canceled"},
		{errs.NotFoundf("package %q not found", "acme/foo"), 0, ""},
		{connect.NewError(connect.CodeNotFound, errors.New("module not found")), 0, ""},
	} {
		core, logs := observer.New(zapcore.DebugLevel)
		LogError(requestContext(zap.New(core)), nil, tc.err)
		if tc.msg == "" {
			require.Zero(t, logs.Len(), tc.err.Error())
			continue
		}
		require.Equal(t, 1, logs.Len(), tc.err.Error())
		e := logs.All()[0]
		require.Equal(t, tc.level, e.Level, tc.err.Error())
		require.Equal(t, tc.msg, e.Message)
	}
	LogError(context.Background(), nil, errors.New("no request, no logger: no panic"))
}
