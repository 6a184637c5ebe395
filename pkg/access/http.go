package access

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
)

// Realm is the HTTP Basic realm packyard announces.
const Realm = "packyard"

// HeaderSetter adds response headers (Retry-After, RateLimit-*) to an
// answer. Errors may implement it (a rate limiter's refusal does).
type HeaderSetter interface{ SetHeaders(h http.Header) }

// WriteError renders an error as a Connect error for Connect clients and as
// JSON {"error": "...", "request_id": "..."} otherwise, with
// WWW-Authenticate on 401. Clients read only the public message
// (errs.PublicMessage); LogError writes the rest to the log.
func WriteError(w http.ResponseWriter, r *http.Request, cw *connect.ErrorWriter, err error) {
	LogError(r.Context(), nil, err)
	var hs HeaderSetter
	if errors.As(err, &hs) {
		hs.SetHeaders(w.Header())
	}
	if cw != nil && IsRPC(r) && cw.IsSupported(r) {
		_ = cw.Write(w, r, errs.ToConnect(err))
		return
	}
	status := errs.HTTPStatus(err)
	errs.SetRetryAfter(w.Header(), status)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorBody(r.Context(), errs.PublicMessage(err)))
}

// ErrorBody is the JSON body of an error answer: the message and the id of
// the request, which the log lines about it carry too.
func ErrorBody(ctx context.Context, msg string) map[string]string {
	body := map[string]string{"error": msg}
	if id := RequestID(ctx); id != "" {
		body["request_id"] = id
	}
	return body
}

// RequestID is the id of the request being served (the X-Request-Id header
// of its response), or "".
func RequestID(ctx context.Context) string {
	r, _ := audit.RequestFrom(ctx)
	return r.ID
}

// LogError writes to the request's log (whose lines carry its request id)
// what the client of a failed request is not told: for internal errors and
// unavailable dependencies the whole error (errs.Detail) at error level,
// and for other errors that keep a cause (a token that does not verify) the
// cause at info level, with fields. fallback is used outside a request.
func LogError(ctx context.Context, fallback *zap.Logger, err error, fields ...zap.Field) {
	if err == nil {
		return
	}
	if fallback == nil {
		fallback = zap.NewNop()
	}
	log := logging.FromContext(ctx, fallback).With(fields...)
	detail := errs.Detail(err)
	switch {
	case errs.Category(err) == nil && errors.Is(err, context.Canceled):
		log.Info("request canceled", zap.String("detail", detail))
	case severe(err):
		log.Error("request failed", zap.String("detail", detail))
	case detail != err.Error():
		log.Info("request refused", zap.String("detail", detail))
	}
}

// severe reports whether err is packyard's failure rather than the
// client's: an internal error or an unavailable dependency.
func severe(err error) bool {
	cat := errs.Category(err)
	var ce *connect.Error
	if cat == nil && errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeInternal, connect.CodeUnknown, connect.CodeUnavailable, connect.CodeDataLoss:
			return true
		}
		return false
	}
	return cat == nil || cat == errs.ErrUnavailable
}

// IsRPC reports whether a request comes from a Connect, gRPC or gRPC-Web
// client (and so wants its errors in that protocol).
func IsRPC(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	ct := r.Header.Get("Content-Type")
	return r.Header.Get("Connect-Protocol-Version") != "" || strings.HasPrefix(ct, "application/grpc") ||
		strings.HasPrefix(ct, "application/connect+")
}
