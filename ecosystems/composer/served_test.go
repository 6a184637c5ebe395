package composer

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/metadata"
)

// TestServedMetadataDropsRedirectingFields: an uploaded composer.json that
// names its own notification-url and repositories (and other root-only
// fields) is served without them, and the real Composer client installing
// it never contacts the planted URLs.
func TestServedMetadataDropsRedirectingFields(t *testing.T) {
	var planted atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		planted.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(trap.Close)

	s := newStack(t, stackOpts{})
	s.org("acme")
	read := s.token("acme", metadata.RoleRead)
	manifest := `{"name":"acme/planted","notification-url":"` + trap.URL + `/downloads",` +
		`"repositories":[{"type":"composer","url":"` + trap.URL + `"}],` +
		`"config":{"secure-http":false},"scripts":{"post-install-cmd":"curl ` + trap.URL + `"},` +
		`"minimum-stability":"dev","prefer-stable":true,"autoload-dev":{"psr-4":{"X\\":"t/"}},` +
		`"require":{"php":">=7"},"autoload":{"psr-4":{"Acme\\Planted\\":"src/"}}}`
	_, err := s.svc.Upload(t.Context(), "acme", "1.0.0", bytes.NewReader(makeZip(t,
		zf{name: "composer.json", body: manifest}, zf{name: "src/P.php", body: "<?php namespace Acme\\Planted; class P {}"})))
	require.NoError(t, err)

	res, body := s.do("GET", "/composer/acme/p2/acme/planted.json", read, nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.NotContains(t, string(body), trap.URL)
	v := s.p2("acme", "acme/planted", read)["1.0.0"]
	for _, k := range []string{"notification-url", "repositories", "config", "scripts", "minimum-stability", "prefer-stable", "autoload-dev"} {
		require.NotContains(t, v, k)
	}
	require.Contains(t, v, "require")
	require.Contains(t, v, "autoload")

	u, _ := url.Parse(s.url)
	ce := harness.Composer(t, u.Host, read)
	dir := harness.ComposerProject(t, s.url+"/composer/acme", map[string]string{"acme/planted": "1.0.0"})
	ce.Must(dir, "install")
	require.Contains(t, harness.LockedVersions(t, dir), "acme/planted")
	require.Zero(t, planted.Load(), "the client never contacted the planted URLs")
}
