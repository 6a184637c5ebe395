package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// syncLease is the job lease of these tests (PACKYARD_JOB_LEASE_TIME): a
// killed replica's sync is claimed again once it has run out.
const syncLease = 3 * time.Second

// TestKillMidSync kills the daemon with SIGKILL in the middle of a git
// sync a webhook queued — once while the git server is sending the pack
// (the fetch is held open), once while the archives are being stored —
// restarts it, and requires that the queued job is claimed again once its
// lease has run out and completes; that the versions served are those of
// an uninterrupted sync of the same repository (p2 documents compared);
// that every dist downloads and matches its sha1; that nothing is
// half-visible; and that what the killed process left in its temporary
// directory (its bare mirror, maybe a partial pack) neither remains nor
// breaks the next sync. On SQLite + filesystem and on PostgreSQL + MinIO +
// Redis (where the killed sync's lock lives on in Redis).
func TestKillMidSync(t *testing.T) {
	for _, backend := range harness.Backends {
		t.Run(string(backend), func(t *testing.T) { runKillMidSync(t, backend) })
	}
}

// midSync is one daemon, its git server and its stores.
type midSync struct {
	in    *harness.Instance
	git   *harness.GitServer
	st    stores
	hc    *http.Client
	token string // read, org acme
}

// added is a source add-vcs registered without syncing it.
type added struct {
	ID     string
	Secret string
	pkg    string // the package its repository holds
}

func runKillMidSync(t *testing.T, backend harness.Backend) {
	gs := harness.NewGitServer(t)
	libURL := gs.Publish(t, "lib", taggedRepo(t, "acme/lib", 80, nil))
	// Every archive of big holds 1.2 MiB that does not compress: each is
	// streamed into the blob store on its own, which the test can watch.
	bigURL := gs.Publish(t, "big", taggedRepo(t, "acme/big", 24, map[string]string{"data/blob.bin": incompressible(1200<<10, 7)}))
	in := harness.Start(t, harness.Options{Backend: backend, Env: map[string]string{
		"PACKYARD_JOB_LEASE_TIME":            syncLease.String(),
		"PACKYARD_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
	}})
	m := &midSync{in: in, git: gs, hc: &http.Client{Timeout: 60 * time.Second}}
	m.token = in.Token("acme", "read")
	m.st = openStores(t, in.Env)

	// Round 1: killed while the fetch is held open by the git server.
	lib := m.add(t, "acme", libURL, "acme/lib")
	gs.HoldFetches("lib")
	m.hook(t, lib)
	m.waitFor(t, "the fetch held and the job running", func() bool {
		return gs.Held.Load() > 0 && m.jobState(t, lib.ID) == "running"
	})
	m.killAndTakeOver(t, "during the fetch", lib, func() { gs.Release("lib") })

	// Round 2: killed while archives are being stored, before the sync's
	// transaction (no version yet).
	big := m.add(t, "acme", bigURL, "acme/big")
	blobs := m.st.count(t, `SELECT count(*) FROM blobs`)
	fetched := gs.Fetched.Load()
	m.hook(t, big)
	m.waitFor(t, "archives being stored and no version yet", func() bool {
		if gs.Fetched.Load() == fetched || m.st.count(t, `SELECT count(*) FROM blobs`) < blobs+2 {
			return false
		}
		require.Zero(t, m.versions(t, "acme/big"), "the sync committed before it could be killed while storing archives")
		return true
	})
	stored := m.st.count(t, `SELECT count(*) FROM blobs`) - blobs
	t.Logf("killed with %d of big's 24 archives stored", stored)
	m.killAndTakeOver(t, "while storing archives", big, nil)

	// A further sync on the restarted daemon: nothing changed.
	m.hook(t, lib)
	m.waitFor(t, "the next sync done", func() bool { return m.jobState(t, lib.ID) == "done" })

	// The same repositories synced without interruption, in another organization.
	ref := m.in.Token("ref", "read")
	m.in.MustCLI("composer", "add-vcs", "--org", "ref", "--url", libURL)
	m.in.MustCLI("composer", "add-vcs", "--org", "ref", "--url", bigURL)
	for pkg, n := range map[string]int{"acme/lib": 80, "acme/lib~dev": 1, "acme/big": 24, "acme/big~dev": 1} {
		got := m.served(t, "acme", m.token, pkg)
		want := m.served(t, "ref", ref, pkg)
		require.Len(t, got, n, "%s: every tag (or the default branch)", pkg)
		require.Equal(t, want, got, "%s: the interrupted sync serves what an uninterrupted one does", pkg)
	}
	m.st.checkInvariants(t)
}

// add registers url, the repository of pkg, in org without syncing it.
func (m *midSync) add(t *testing.T, org, url, pkg string) added {
	t.Helper()
	var out struct {
		Source struct {
			ID string `json:"id"`
		} `json:"source"`
		Secret string `json:"webhook_secret"`
	}
	require.NoError(t, json.Unmarshal([]byte(m.in.MustCLI("composer", "add-vcs", "--org", org, "--url", url, "--no-sync", "--json")), &out))
	require.NotEmpty(t, out.Source.ID)
	require.NotEmpty(t, out.Secret)
	return added{ID: out.Source.ID, Secret: out.Secret, pkg: pkg}
}

// hook delivers a push webhook for a source; 202 means the job is committed.
func (m *midSync) hook(t *testing.T, s added) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, m.in.URL+"/composer/acme/hooks/"+s.ID, bytes.NewReader([]byte(`{"ref":"refs/heads/main"}`)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Token", s.Secret)
	res, err := m.hc.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode)
}

func (m *midSync) jobState(t *testing.T, sourceID string) string {
	t.Helper()
	var state string
	err := m.st.db.QueryRow(context.Background(), `SELECT state FROM jobs WHERE kind = 'composer:sync' AND key = ?
		ORDER BY updated_at DESC LIMIT 1`, sourceID).Scan(&state)
	require.NoError(t, err)
	return state
}

func (m *midSync) attempts(t *testing.T, sourceID string) int {
	t.Helper()
	var n int
	require.NoError(t, m.st.db.QueryRow(context.Background(), `SELECT attempts FROM jobs WHERE kind = 'composer:sync' AND key = ?
		ORDER BY updated_at DESC LIMIT 1`, sourceID).Scan(&n))
	return n
}

func (m *midSync) versions(t *testing.T, pkg string) int {
	t.Helper()
	var n int
	require.NoError(t, m.st.db.QueryRow(context.Background(), `SELECT count(*) FROM composer_versions v
		JOIN composer_packages p ON p.id = v.package_id WHERE p.name = ?`, pkg).Scan(&n))
	return n
}

// waitFor polls cond every few milliseconds for up to a minute.
func (m *midSync) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// killAndTakeOver kills the daemon, calls after (if set), notes what the
// killed process left in its temporary directory, restarts it and waits
// until the source's job is done; it reports how long the sync took to
// complete after the kill, and requires that the leftovers are gone.
func (m *midSync) killAndTakeOver(t *testing.T, when string, s added, after func()) {
	t.Helper()
	m.in.Kill()
	killed := time.Now()
	if after != nil {
		after()
	}
	tmp := filepath.Join(m.in.DataDir, "tmp")
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	require.NotEmpty(t, left, "the killed sync left its mirror behind")
	require.Equal(t, "running", m.jobState(t, s.ID), "the killed sync's job is still claimed")
	require.Zero(t, m.versions(t, s.pkg), "the killed sync made nothing visible")
	m.st.checkInvariants(t)
	m.in.Resume(nil)
	restarted := time.Since(killed)
	m.waitFor(t, "the sync to complete after the kill", func() bool { return m.jobState(t, s.ID) == "done" })
	took := time.Since(killed)
	t.Logf("killed %s: restarted after %v, the job done %v after the kill (lease %v; %d attempts); the killed process left %v",
		when, restarted.Round(time.Millisecond), took.Round(time.Millisecond), syncLease, m.attempts(t, s.ID), left)
	require.Equal(t, 2, m.attempts(t, s.ID), "the killed attempt and the one after the lease ran out")
	require.GreaterOrEqual(t, took, syncLease*2/3, "the job is claimed again only once its lease has run out")
	for _, name := range left {
		_, err := os.Stat(filepath.Join(tmp, name))
		require.True(t, os.IsNotExist(err), "%s: what the killed process left is cleaned at start", name)
	}
	m.st.checkInvariants(t)
}

// served is a package's versions as org serves them, each dist checked
// against its sha1, the dist URL (which names the organization) left out.
func (m *midSync) served(t *testing.T, org, token, pkg string) map[string]p2Version {
	t.Helper()
	vs, code, err := p2Versions(context.Background(), m.hc, m.in.URL, org, token, pkg)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "p2 of %s in %s", pkg, org)
	for v, pv := range vs {
		require.NoError(t, checkDist(m.hc, token, pv, ""), "%s %s in %s", pkg, v, org)
		if dist, ok := pv["dist"].(map[string]any); ok {
			delete(dist, "url")
		}
	}
	return vs
}
