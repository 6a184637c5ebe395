package composer

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/metadata"
)

// An authenticated read of a cached document makes no database round trip:
// the token, its user, the organization, the caller's role and the
// repository's generation come from memory (the change feed keeps them
// current), the document from the cache.
func TestCachedReadMakesNoDatabaseRoundTrip(t *testing.T) {
	for _, backend := range []struct {
		name     string
		postgres bool
	}{{"sqlite", false}, {"postgres", true}} {
		t.Run(backend.name, func(t *testing.T) {
			s := newStack(t, stackOpts{postgres: backend.postgres})
			s.org("acme")
			tok := s.token("acme", metadata.RoleRead)
			benchUpload(t, s, "acme/a", "1.0.0", 16)
			trusted, ok := s.k.Meta.(interface{ Trusted() bool })
			require.True(t, ok, "the kernel keeps the hot reads in memory")
			require.Eventually(t, trusted.Trusted, 10*time.Second, 10*time.Millisecond)

			serve := func(req *http.Request) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				s.h.ServeHTTP(rec, req)
				return rec
			}
			p2 := authed("GET", "/composer/acme/p2/acme/a.json", tok)
			root := authed("GET", "/composer/acme/packages.json", tok)
			warm := serve(p2())
			require.Equal(t, http.StatusOK, warm.Code, warm.Body.String())
			require.Equal(t, http.StatusOK, serve(root()).Code)
			lm := warm.Header().Get("Last-Modified")
			require.NotEmpty(t, lm)
			notModified := authed("GET", "/composer/acme/p2/acme/a.json", tok, "If-Modified-Since", lm)
			require.Equal(t, http.StatusNotModified, serve(notModified()).Code)

			// A change this process made itself may still be announced a poll
			// later (SQLite's change counter is read every 100 ms): settle
			// until half a second of reads makes no round trip.
			round := func() {
				require.Equal(t, http.StatusOK, serve(p2()).Code)
				require.Equal(t, http.StatusOK, serve(root()).Code)
				require.Equal(t, http.StatusNotModified, serve(notModified()).Code)
			}
			require.Eventually(t, func() bool {
				b := s.k.DB.Calls()
				round()
				time.Sleep(500 * time.Millisecond)
				round()
				return s.k.DB.Calls() == b
			}, 20*time.Second, 10*time.Millisecond, "reads settle without round trips")

			before := s.k.DB.Calls()
			for range 50 {
				require.Equal(t, http.StatusOK, serve(p2()).Code)
				require.Equal(t, http.StatusOK, serve(root()).Code)
				require.Equal(t, http.StatusNotModified, serve(notModified()).Code)
			}
			require.Equal(t, before, s.k.DB.Calls(), "150 cached reads made no database round trip")

			// The counter counts: a read of a document not cached yet reaches the database.
			require.Equal(t, http.StatusNotFound, serve(authed("GET", "/composer/acme/p2/acme/none.json", tok)()).Code)
			require.Greater(t, s.k.DB.Calls(), before)
		})
	}
}
