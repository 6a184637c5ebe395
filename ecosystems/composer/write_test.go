package composer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/metadata"
)

// otherWriteBound is how long a small upload may take while another one is
// held in the middle of building its documents. It is far below SQLite's
// busy timeout (10 s), which a writer waiting for an open transaction
// would sit out.
const otherWriteBound = 5 * time.Second

func publishVersion(t *testing.T, s *stack, org, name, version string) error {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"description":"%s %s"}`, name, name, version)
	_, err := s.svc.Upload(t.Context(), org, version, bytes.NewReader(makeZip(t, zf{name: "composer.json", body: body})))
	return err
}

// holdParse makes the repository's parsing of stored entries that contain
// marker stop, the first time, until release is called; parsing reports
// when that happens.
func holdParse(s *stack, marker string) (parsing <-chan struct{}, release func()) {
	started, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.svc.repo.parse = func(b []byte) (format.Object, error) {
		if strings.Contains(string(b), marker) {
			once.Do(func() {
				close(started)
				<-gate
			})
		}
		return format.ParseObject(b)
	}
	var released sync.Once
	return started, func() { released.Do(func() { close(gate) }) }
}

// waitFor waits for ch, failing after a minute.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestPublishParsesOutsideTheTransaction: while one upload is held in the
// middle of parsing its package's stored entries, an upload to another
// organization and one of another package of the same organization still
// finish at once. When parsing ran inside the write transaction, they
// waited for it: on SQLite every writer, on PostgreSQL the organization's
// writers.
func TestPublishParsesOutsideTheTransaction(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		s.org("other")
		parsing, release := holdParse(s, "acme/slow")
		t.Cleanup(release)

		slow := make(chan error, 1)
		go func() { slow <- publishVersion(t, s, "acme", "acme/slow", "1.0.0") }()
		waitFor(t, parsing, "the held upload to parse its entries")

		for _, w := range []struct{ org, name string }{{"other", "other/fast"}, {"acme", "acme/fast"}} {
			start := time.Now()
			require.NoError(t, publishVersion(t, s, w.org, w.name, "1.0.0"), "%s while another upload parses", w.name)
			require.Less(t, time.Since(start), otherWriteBound, "%s waited for another upload's parsing", w.name)
		}
		select {
		case err := <-slow:
			t.Fatalf("the held upload finished while its parsing was held: %v", err)
		default:
		}
		release()
		require.NoError(t, <-slow)

		for _, p := range []struct{ org, name string }{{"acme", "acme/slow"}, {"acme", "acme/fast"}, {"other", "other/fast"}} {
			require.Contains(t, s.p2(p.org, p.name, s.token(p.org, metadata.RoleRead)), "1.0.0", p.name)
		}
	})
}

// TestPublishKeepsAVersionPublishedMeanwhile: an upload whose documents
// were built before another version of the same package was published
// does not write them as built (which would drop that version); it builds
// them again and both versions are served.
func TestPublishKeepsAVersionPublishedMeanwhile(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		parsing, release := holdParse(s, `"acme/pkg 1.0.0"`)
		t.Cleanup(release)

		first := make(chan error, 1)
		go func() { first <- publishVersion(t, s, "acme", "acme/pkg", "1.0.0") }()
		waitFor(t, parsing, "the first upload to build its documents")
		require.NoError(t, publishVersion(t, s, "acme", "acme/pkg", "1.0.1"))
		release()
		require.NoError(t, <-first)

		vs := s.p2("acme", "acme/pkg", s.token("acme", metadata.RoleRead))
		require.Contains(t, vs, "1.0.0")
		require.Contains(t, vs, "1.0.1")
		require.Len(t, vs, 2)
	})
}

// TestConcurrentPublishesOfOnePackage: versions of one package uploaded at
// once all end up in its documents, whatever the order their builds and
// transactions interleave in (each parse is slowed down to widen the
// windows).
func TestConcurrentPublishesOfOnePackage(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		s := newStack(t, stackOpts{postgres: pg})
		s.org("acme")
		s.svc.repo.parse = func(b []byte) (format.Object, error) {
			time.Sleep(10 * time.Millisecond)
			return format.ParseObject(b)
		}
		const n = 6
		ready := make(chan struct{})
		errc := make(chan error, n)
		for i := range n {
			go func() {
				<-ready
				errc <- publishVersion(t, s, "acme", "acme/many", fmt.Sprintf("2.0.%d", i))
			}()
		}
		close(ready)
		for range n {
			require.NoError(t, <-errc)
		}
		vs := s.p2("acme", "acme/many", s.token("acme", metadata.RoleRead))
		for i := range n {
			require.Contains(t, vs, fmt.Sprintf("2.0.%d", i))
		}
		require.Len(t, vs, n)

		var described string
		require.NoError(t, s.meta.DB().QueryRow(context.Background(),
			`SELECT description FROM composer_packages WHERE name = 'acme/many'`).Scan(&described))
		require.Equal(t, fmt.Sprintf("acme/many 2.0.%d", n-1), described, "the newest version's description")
	})
}
