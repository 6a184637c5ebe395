package server

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/config"
)

func TestBaseURL(t *testing.T) {
	r := httptest.NewRequest("GET", "http://reg.internal:8080/composer/acme/packages.json", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "packages.example.com")
	require.Equal(t, "http://reg.internal:8080", BaseURL{}.For(r), "proxy headers are ignored unless trusted")
	require.Equal(t, "https://packages.example.com", BaseURL{TrustProxyHeaders: true}.For(r))
	require.Equal(t, "https://fixed.example", BaseURL{Fixed: "https://fixed.example"}.For(r))
	r.TLS = &tls.ConnectionState{}
	require.Equal(t, "https://reg.internal:8080", BaseURL{}.For(r))
}

func TestConfig(t *testing.T) {
	l := config.NewLoader(config.Map(map[string]string{"PACKYARD_BASE_URL": "https://reg.example/sub/"}))
	c := ConfigFromEnv(l)
	require.NoError(t, l.Err())
	require.Equal(t, "https://reg.example/sub", c.BaseURL)
	require.Equal(t, ":8080", c.Addr)
	l = config.NewLoader(config.Map(map[string]string{"PACKYARD_BASE_URL": "https://u:p@reg.example/?x=1"}))
	ConfigFromEnv(l)
	require.ErrorContains(t, l.Err(), "PACKYARD_BASE_URL")
}
