package server

import (
	"net/http"
	"strings"
)

// BaseURL is the external URL clients use to reach packyard: the configured
// PACKYARD_BASE_URL, or, when that is empty, derived from each request
// (scheme from TLS or X-Forwarded-Proto when proxy headers are trusted, and
// the Host header).
type BaseURL struct {
	Fixed             string // without trailing slash; "" derives from the request
	TrustProxyHeaders bool
}

// For returns the base URL for a request, without a trailing slash.
func (b BaseURL) For(r *http.Request) string {
	if b.Fixed != "" {
		return b.Fixed
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if b.TrustProxyHeaders {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			host = strings.TrimSpace(strings.Split(h, ",")[0])
		}
	}
	return scheme + "://" + host
}
