package crash

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/blob"
	"github.com/packyard/packyard/pkg/cas"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/sqldb"
	"github.com/packyard/packyard/storage"
)

// stores are the daemon's own database and blob store, opened by the test
// from the daemon's configuration to check invariants directly.
type stores struct {
	db    *sqldb.DB
	blobs blob.Store
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "PACKYARD_") {
			m[k] = v // later values win, as for the daemon
		}
	}
	return m
}

func openStores(t *testing.T, env []string) stores {
	t.Helper()
	ctx := context.Background()
	l := config.NewLoader(config.Map(envMap(env)))
	c := storage.ConfigFromEnv(l)
	require.NoError(t, l.Err())
	db, err := storage.OpenDatabase(ctx, c)
	require.NoError(t, err)
	t.Cleanup(func() { db.DB.Close() })
	b, err := storage.OpenBlobs(ctx, c, zap.NewNop())
	require.NoError(t, err)
	return stores{db: db.DB, blobs: b.Store}
}

// invariants are the queries that must count zero rows after any crash:
// nothing half-visible, and nothing live that GC could take.
var invariants = map[string]string{
	"composer version without its dist": `SELECT count(*) FROM composer_versions v WHERE NOT EXISTS
		(SELECT 1 FROM composer_dists d WHERE d.package_id = v.package_id AND d.reference = v.reference)`,
	"composer package without versions": `SELECT count(*) FROM composer_packages p WHERE NOT EXISTS
		(SELECT 1 FROM composer_versions v WHERE v.package_id = p.id)`,
	"composer dist without its blob row": `SELECT count(*) FROM composer_dists d WHERE NOT EXISTS
		(SELECT 1 FROM blobs b WHERE b.digest = d.digest)`,
	"buf commit without files": `SELECT count(*) FROM buf_commits c WHERE NOT EXISTS
		(SELECT 1 FROM buf_commit_files f WHERE f.commit_id = c.id)`,
	"buf commit never labelled": `SELECT count(*) FROM buf_commits c WHERE NOT EXISTS
		(SELECT 1 FROM buf_label_history h WHERE h.commit_id = c.id)`,
	"buf label pointing at a missing commit": `SELECT count(*) FROM buf_labels l WHERE NOT EXISTS
		(SELECT 1 FROM buf_commits c WHERE c.id = l.commit_id)`,
	"buf dependency on a missing commit": `SELECT count(*) FROM buf_commit_deps d WHERE NOT EXISTS
		(SELECT 1 FROM buf_commits c WHERE c.id = d.dep_commit_id)`,
	"buf file without its blob row": `SELECT count(*) FROM buf_commit_files f WHERE NOT EXISTS
		(SELECT 1 FROM blobs b WHERE b.digest = f.blob)`,
	"live blob without a reference (GC would take it)": `SELECT count(*) FROM (` + liveBlobs + `) l WHERE NOT EXISTS
		(SELECT 1 FROM blob_refs r WHERE r.digest = l.digest)`,
}

// liveBlobs lists every blob a version or a commit uses.
const liveBlobs = `SELECT digest FROM composer_dists UNION SELECT blob FROM buf_commit_files
	UNION SELECT blob FROM buf_commit_encodings`

func (s stores) count(t *testing.T, q string) int {
	t.Helper()
	var n int
	require.NoError(t, s.db.QueryRow(context.Background(), q).Scan(&n), q)
	return n
}

func (s stores) checkInvariants(t *testing.T) {
	t.Helper()
	for name, q := range invariants {
		require.Zero(t, s.count(t, q), "%s", name)
	}
}

func (s stores) strings(t *testing.T, q string) map[string]bool {
	t.Helper()
	rows, err := s.db.Query(context.Background(), q)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		out[v] = true
	}
	require.NoError(t, rows.Err())
	return out
}

// garbage counts what GC should remove: unreferenced index rows, and
// objects without an index row (left by a crash between a blob's upload
// and its row).
func (s stores) garbage(t *testing.T) (rows, orphans int) {
	t.Helper()
	rows = s.count(t, `SELECT count(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.digest = b.digest)`)
	indexed := s.strings(t, `SELECT digest FROM blobs`)
	l, ok := s.blobs.(blob.Lister)
	require.True(t, ok, "the blob store lists its objects")
	require.NoError(t, l.List(context.Background(), cas.KeyPrefix, func(info blob.Info) error {
		d := info.Key[strings.LastIndex(info.Key, "/")+1:]
		if !indexed[d] {
			orphans++
		}
		return nil
	}))
	return rows, orphans
}

// planted is the garbage plantGarbage added.
type planted struct{ rows, orphans int }

// plantGarbage adds what crashes can leave, so GC has known garbage to
// find whatever the kills hit: two objects without an index row (a crash
// between a blob's upload and its row) and one indexed blob nothing
// references (a crash between the row and the version or commit).
func (s stores) plantGarbage(t *testing.T) planted {
	t.Helper()
	ctx := context.Background()
	put := func(content string) string {
		sum := sha256.Sum256([]byte(content))
		d := hex.EncodeToString(sum[:])
		require.NoError(t, s.blobs.Put(ctx, cas.Key(d), strings.NewReader(content), int64(len(content))))
		return d
	}
	put("orphan one " + time.Now().String())
	put("orphan two " + time.Now().String())
	content := "unreferenced " + time.Now().String()
	d := put(content)
	old := time.Now().Add(-time.Hour).UnixMicro()
	_, err := s.db.Exec(ctx, `INSERT INTO blobs (digest, size, extra, created_at, touched_at) VALUES (?, ?, '{}', ?, ?)`, d, len(content), old, old)
	require.NoError(t, err)
	return planted{rows: 1, orphans: 2}
}

// checkLiveObjects checks that every blob a version or commit uses has its
// object in the blob store (its own, or the pack its row names), and
// returns how many there are.
func (s stores) checkLiveObjects(t *testing.T) int {
	t.Helper()
	live := s.strings(t, liveBlobs)
	packs := s.pairs(t, `SELECT digest, pack FROM blobs WHERE pack <> ''`)
	for d := range live {
		key := cas.Key(d)
		if p := packs[d]; p != "" {
			key = cas.PackKey(p)
		}
		_, err := s.blobs.Stat(context.Background(), key)
		require.NoError(t, err, "live blob %s (%s)", d, key)
	}
	return len(live)
}

// unusedPacks counts the pack objects no index row names (left by a crash
// between a pack's upload and its rows, or by the removal of their rows).
func (s stores) unusedPacks(t *testing.T) int {
	t.Helper()
	named := map[string]bool{}
	for _, p := range s.pairs(t, `SELECT digest, pack FROM blobs WHERE pack <> ''`) {
		named[p] = true
	}
	l, ok := s.blobs.(blob.Lister)
	require.True(t, ok, "the blob store lists its objects")
	n := 0
	require.NoError(t, l.List(context.Background(), cas.PackPrefix, func(info blob.Info) error {
		if !named[info.Key[strings.LastIndex(info.Key, "/")+1:]] {
			n++
		}
		return nil
	}))
	return n
}

// pairs returns the two-column rows of query as a map from the first column.
func (s stores) pairs(t *testing.T, query string) map[string]string {
	t.Helper()
	rows, err := s.db.Query(context.Background(), query)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		out[k] = v
	}
	require.NoError(t, rows.Err())
	return out
}

// gcStats is what the daemon logs after a GC run.
type gcStats struct {
	Records, Objects, Orphans, Packs, Kept int
}

// lastGC waits for the n-th "garbage collection done" line of log and
// returns its figures.
func lastGC(t *testing.T, log func() string, n int) gcStats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var found []gcStats
		for _, line := range strings.Split(log(), "\n") {
			if !strings.Contains(line, "garbage collection done") {
				continue
			}
			var entry struct {
				Stats gcStats `json:"stats"`
			}
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatalf("gc log line %q: %v", line, err)
			}
			found = append(found, entry.Stats)
		}
		if len(found) >= n {
			return found[n-1]
		}
		if strings.Contains(log(), "garbage collection failed") {
			t.Fatal(errors.New("garbage collection failed; see the log"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no garbage collection run within 30s")
	return gcStats{}
}
