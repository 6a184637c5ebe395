// Package server owns packyard's one listener: an outer http.ServeMux with
// the kernel's middleware (panic recovery, request id, access log, metrics,
// authentication, body limit), Echo for HTTP routes, Connect handlers beside
// it, /healthz, /readyz and /metrics (optionally on a separate listener or
// behind a Bearer token); plain HTTP with h2c or native TLS; header, body,
// response and idle timeouts; graceful shutdown through fx.
package server

import (
	"strings"
	"time"

	"github.com/packyard/packyard/pkg/config"
)

// Config is the listener's configuration.
type Config struct {
	Addr              string        // PACKYARD_HTTP_ADDR
	BaseURL           string        // PACKYARD_BASE_URL
	TLSCertFile       string        // PACKYARD_TLS_CERT_FILE
	TLSKeyFile        string        // PACKYARD_TLS_KEY_FILE
	MaxBodySize       int64         // PACKYARD_HTTP_MAX_BODY_SIZE
	ReadHeaderTimeout time.Duration // PACKYARD_HTTP_READ_HEADER_TIMEOUT
	ReadTimeout       time.Duration // PACKYARD_HTTP_READ_TIMEOUT: longest wait for the next bytes of a body
	WriteTimeout      time.Duration // PACKYARD_HTTP_WRITE_TIMEOUT: longest wait for the client to take response bytes
	IdleTimeout       time.Duration // PACKYARD_HTTP_IDLE_TIMEOUT
	MetricsAddr       string        // PACKYARD_METRICS_ADDR: a separate listener for /metrics
	MetricsToken      string        // PACKYARD_METRICS_TOKEN: Bearer token /metrics requires
	ShutdownTimeout   time.Duration // PACKYARD_SHUTDOWN_TIMEOUT
	TrustProxyHeaders bool          // PACKYARD_TRUST_PROXY_HEADERS
}

// ConfigFromEnv reads the listener's variables.
func ConfigFromEnv(l *config.Loader) Config {
	c := Config{
		Addr:              l.String("PACKYARD_HTTP_ADDR", ":8080"),
		TLSCertFile:       l.String("PACKYARD_TLS_CERT_FILE", ""),
		TLSKeyFile:        l.String("PACKYARD_TLS_KEY_FILE", ""),
		MaxBodySize:       l.Size("PACKYARD_HTTP_MAX_BODY_SIZE", 512<<20),
		ReadHeaderTimeout: l.Duration("PACKYARD_HTTP_READ_HEADER_TIMEOUT", 10*time.Second),
		ReadTimeout:       l.Duration("PACKYARD_HTTP_READ_TIMEOUT", time.Minute),
		WriteTimeout:      l.Duration("PACKYARD_HTTP_WRITE_TIMEOUT", time.Minute),
		IdleTimeout:       l.Duration("PACKYARD_HTTP_IDLE_TIMEOUT", 2*time.Minute),
		MetricsAddr:       l.String("PACKYARD_METRICS_ADDR", ""),
		MetricsToken:      l.Secret("PACKYARD_METRICS_TOKEN"),
		ShutdownTimeout:   l.Duration("PACKYARD_SHUTDOWN_TIMEOUT", 30*time.Second),
		TrustProxyHeaders: l.Bool("PACKYARD_TRUST_PROXY_HEADERS", false),
	}
	if u := l.URL("PACKYARD_BASE_URL", "http", "https"); u != nil {
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			l.Fail("PACKYARD_BASE_URL", "must be scheme://host[:port][/path] without user, query or fragment")
		}
		c.BaseURL = strings.TrimRight(u.String(), "/")
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr {
		l.Fail("PACKYARD_METRICS_ADDR", "must differ from PACKYARD_HTTP_ADDR (leave it empty to serve /metrics on the main listener)")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		l.Fail("PACKYARD_TLS_CERT_FILE", "set both PACKYARD_TLS_CERT_FILE and PACKYARD_TLS_KEY_FILE to serve TLS, or neither")
	}
	return c
}
