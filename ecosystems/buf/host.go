package buf

import (
	"context"
	"net/http"
)

type hostKey struct{}

// withHost records the Host the client asked for, so that responses can
// name the registry the way the client knows it.
func withHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), hostKey{}, r.Host)))
	})
}

// RequestHost returns the host (with port) the request was addressed to.
func RequestHost(ctx context.Context) string {
	h, _ := ctx.Value(hostKey{}).(string)
	return h
}
