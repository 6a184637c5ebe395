package access

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/packyard/packyard/pkg/errs"
)

// Realm is the HTTP Basic realm packyard announces.
const Realm = "packyard"

// HeaderSetter adds response headers (Retry-After, RateLimit-*) to an
// answer. Errors may implement it (a rate limiter's refusal does).
type HeaderSetter interface{ SetHeaders(h http.Header) }

// WriteError renders an error as a Connect error for Connect clients and as
// JSON {"error": "..."} otherwise, with WWW-Authenticate on 401.
func WriteError(w http.ResponseWriter, r *http.Request, cw *connect.ErrorWriter, err error) {
	var hs HeaderSetter
	if errors.As(err, &hs) {
		hs.SetHeaders(w.Header())
	}
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
