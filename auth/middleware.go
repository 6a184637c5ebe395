package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/errs"
)

// Realm is the HTTP Basic realm packyard announces.
const Realm = "packyard"

// Middleware authenticates every request before any handler decodes its
// body. Requests without credentials pass on anonymously; requests with
// invalid credentials are refused here with 401 (a Connect error for
// Connect clients). A dependency outage answers 503, never 401.
func Middleware(authn Authenticator, log *zap.Logger) func(http.Handler) http.Handler {
	connectErrors := connect.NewErrorWriter()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := authn.Authenticate(r.Context(), r)
			switch {
			case errors.Is(err, ErrNoCredentials):
				next.ServeHTTP(w, r)
				return
			case err != nil:
				if errs.Category(err) == nil {
					log.Error("authentication failed", zap.Error(err))
				}
				WriteError(w, r, connectErrors, err)
				return
			}
			if h, ok := w.(interface{ SetPrincipal(string) }); ok {
				h.SetPrincipal(p.UserName)
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// WriteError renders an error as a Connect error for Connect clients and as
// JSON {"error": "..."} otherwise, with WWW-Authenticate on 401.
func WriteError(w http.ResponseWriter, r *http.Request, cw *connect.ErrorWriter, err error) {
	if cw != nil && IsRPC(r) && cw.IsSupported(r) {
		_ = cw.Write(w, r, errs.ToConnect(err))
		return
	}
	status := errs.HTTPStatus(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": errs.PublicMessage(err)})
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
