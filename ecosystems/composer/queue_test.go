package composer

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/jobs"
)

// packageRepo is a work repository of package name with one tag.
func packageRepo(t testing.TB, name string, extra map[string]string) *harness.Repo {
	t.Helper()
	g := harness.GitRepo(t)
	files := map[string]string{"composer.json": `{"name":"` + name + `"}`}
	for k, v := range extra {
		files[k] = v
	}
	g.Commit(files)
	g.Git("tag", "1.0.0")
	return g
}

func (s *stack) deliver(t *testing.T, sourceID, secret string) {
	t.Helper()
	res, body := s.do("POST", "/composer/acme/hooks/"+sourceID, "", bytes.NewReader([]byte(`{"ref":"refs/heads/main"}`)), "X-Gitlab-Token", secret)
	require.Equal(t, http.StatusAccepted, res.StatusCode, string(body))
}

func (s *stack) sourceStatus(t *testing.T, id string) (status, lastError string) {
	t.Helper()
	srcs, err := s.svc.Sources(t.Context(), "acme")
	require.NoError(t, err)
	for _, sr := range srcs {
		if sr.ID == id {
			return sr.Status, sr.LastError
		}
	}
	t.Fatalf("source %s not listed", id)
	return "", ""
}

// A delivery is acknowledged once its job is in the database: a replica
// that acknowledged it and never processed it (stopped before its worker
// ran) loses nothing; another replica of the same database (or the same
// one restarted) does the sync.
func TestWebhookQueuedDurably(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		ctx := t.Context()
		a := newStack(t, stackOpts{postgres: pg}) // acknowledges, runs no worker
		a.org("acme")
		g := packageRepo(t, "acme/durable", nil)
		src, secret, err := a.svc.AddSource(ctx, "acme", SourceInput{URL: g.Dir, Operator: true})
		require.NoError(t, err)
		a.deliver(t, src.ID, secret)
		a.deliver(t, src.ID, secret) // a duplicate delivery joins the queued job
		var n int
		require.NoError(t, a.meta.DB().QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = ? AND key = ?`, syncJob, src.ID).Scan(&n))
		require.Equal(t, 1, n, "duplicate deliveries coalesce")
		status, _ := a.sourceStatus(t, src.ID)
		require.Equal(t, "new", status, "not synced yet")

		shared := map[string]string{}
		for k, v := range a.k.Env {
			if k != "PACKYARD_HTTP_ADDR" {
				shared[k] = v
			}
		}
		b := newStack(t, stackOpts{postgres: pg, background: true, env: shared})
		require.Eventually(t, func() bool {
			status, _ := b.sourceStatus(t, src.ID)
			return status == "ok"
		}, 30*time.Second, 20*time.Millisecond, "the other replica syncs the acknowledged delivery")
		require.Eventually(t, func() bool {
			st, ok, err := b.svc.jobs.Queue.Status(ctx, syncJob, src.ID)
			return err == nil && ok && st.State == "done"
		}, 10*time.Second, 20*time.Millisecond)
		require.Contains(t, a.p2("acme", "acme/durable", a.token("acme", "read")), "1.0.0")
	})
}

// A sync that fails (the git server down) is retried with a growing
// backoff, its error shown on the source; once the server is back the
// retry succeeds.
func TestQueuedSyncRetriesWithBackoff(t *testing.T) {
	ctx := t.Context()
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.SyncRetry = jobs.Backoff{Base: 200 * time.Millisecond, Max: 800 * time.Millisecond}
	s := newStack(t, stackOpts{cfg: &cfg, background: true})
	s.org("acme")
	gs := harness.NewGitServer(t)
	url := gs.Publish(t, "retry", packageRepo(t, "acme/retry", nil))
	src, secret, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: url})
	require.NoError(t, err)

	gs.Down.Store(true)
	s.deliver(t, src.ID, secret)
	require.Eventually(t, func() bool {
		st, ok, err := s.svc.jobs.Queue.Status(ctx, syncJob, src.ID)
		return err == nil && ok && st.Attempts >= 4 && st.State == "pending"
	}, 20*time.Second, 20*time.Millisecond, "the failing sync is retried")
	st, _, err := s.svc.jobs.Queue.Status(ctx, syncJob, src.ID)
	require.NoError(t, err)
	require.Contains(t, st.LastError, "could not be reached", "the error is kept with the job")
	status, lastErr := s.sourceStatus(t, src.ID)
	require.Equal(t, "error", status)
	require.NotEmpty(t, lastErr)
	times := gs.DownTimes()
	require.GreaterOrEqual(t, len(times), 4)
	for i, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		require.GreaterOrEqual(t, times[i+1].Sub(times[i]), want-20*time.Millisecond, "attempt %d waited its backoff", i+2)
	}

	gs.Down.Store(false)
	require.Eventually(t, func() bool {
		status, _ := s.sourceStatus(t, src.ID)
		return status == "ok"
	}, 10*time.Second, 20*time.Millisecond, "the retry after the server is back succeeds")
	require.Eventually(t, func() bool {
		st, _, err := s.svc.jobs.Queue.Status(ctx, syncJob, src.ID)
		return err == nil && st.State == "done"
	}, 5*time.Second, 20*time.Millisecond)
}

// Syncs run at once up to PACKYARD_COMPOSER_SYNC_CONCURRENCY: a source
// whose git server hangs does not delay another source's sync, and no
// more syncs than the bound run at once.
func TestQueuedSyncsInParallel(t *testing.T) {
	ctx := t.Context()
	cfg := DefaultConfig()
	cfg.SyncInterval = 0
	cfg.SyncConcurrency = 2
	s := newStack(t, stackOpts{cfg: &cfg, background: true})
	s.org("acme")
	gs := harness.NewGitServer(t)
	ids := map[string]string{}
	secrets := map[string]string{}
	for _, name := range []string{"slow1", "slow2", "slow3", "fast"} {
		url := gs.Publish(t, name, packageRepo(t, "acme/"+name, nil))
		src, secret, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: url})
		require.NoError(t, err)
		ids[name], secrets[name] = src.ID, secret
	}
	gs.Hold("slow1")
	s.deliver(t, ids["slow1"], secrets["slow1"])
	require.Eventually(t, func() bool { return gs.Held.Load() == 1 }, 10*time.Second, 10*time.Millisecond)

	start := time.Now()
	s.deliver(t, ids["fast"], secrets["fast"])
	require.Eventually(t, func() bool {
		status, _ := s.sourceStatus(t, ids["fast"])
		return status == "ok"
	}, 10*time.Second, 10*time.Millisecond, "the fast source syncs while the slow one hangs")
	t.Logf("fast source synced in %v while another hung", time.Since(start))
	require.EqualValues(t, 1, gs.Held.Load(), "the slow one still hangs")

	gs.Hold("slow2")
	gs.Hold("slow3")
	s.deliver(t, ids["slow2"], secrets["slow2"])
	s.deliver(t, ids["slow3"], secrets["slow3"])
	require.Eventually(t, func() bool { return gs.Held.Load() == 2 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(time.Second) // the worker polls many times meanwhile
	require.EqualValues(t, 2, gs.PeakHeld.Load(), "never more syncs at once than the bound")
	for _, name := range []string{"slow1", "slow2", "slow3"} {
		gs.Release(name)
	}
	require.Eventually(t, func() bool {
		for _, name := range []string{"slow1", "slow2", "slow3"} {
			if status, _ := s.sourceStatus(t, ids[name]); status != "ok" {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond)
	require.EqualValues(t, 2, gs.PeakHeld.Load())
}

// A re-sync fetches only what changed: an unchanged repository costs one
// ref listing (no fetch, no archive, no version written); a new tag
// fetches a pack of the new objects only, not the repository again.
func TestIncrementalResync(t *testing.T) {
	ctx := t.Context()
	s := newStack(t, stackOpts{})
	s.org("acme")
	gs := harness.NewGitServer(t)
	noise := make([]byte, 512<<10) // incompressible: the first pack is at least this large
	_, _ = rand.Read(noise)
	work := packageRepo(t, "acme/incr", map[string]string{"noise.bin": string(noise)})
	url := gs.Publish(t, "incr", work)
	src, _, err := s.svc.AddSource(ctx, "acme", SourceInput{URL: url})
	require.NoError(t, err)

	rep, err := s.svc.SyncSource(ctx, src.ID)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Changed) // main, 1.0.0
	require.EqualValues(t, 1, gs.Fetches.Load())
	cold := gs.PackBytes.Load()
	require.Greater(t, cold, int64(len(noise)))

	versions := func() (n int, last int64) {
		require.NoError(t, s.meta.DB().QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(created_at), 0) FROM composer_versions`).Scan(&n, &last))
		return n, last
	}
	blobs := blobCount(t, s.meta)
	n0, last0 := versions()
	rep, err = s.svc.SyncSource(ctx, src.ID)
	require.NoError(t, err)
	require.Zero(t, rep.Changed)
	require.EqualValues(t, 1, gs.Fetches.Load(), "an unchanged repository is not fetched")
	require.Equal(t, blobs, blobCount(t, s.meta), "no archive built")
	n1, last1 := versions()
	require.Equal(t, n0, n1)
	require.Equal(t, last0, last1, "no version written")

	work.Commit(map[string]string{"src/A.php": "<?php class A {}"})
	work.Git("tag", "1.1.0")
	gs.Publish(t, "incr", work)
	rep, err = s.svc.SyncSource(ctx, src.ID)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Changed) // main moved, 1.1.0 new
	require.EqualValues(t, 2, gs.Fetches.Load())
	incr := gs.PackBytes.Load() - cold
	t.Logf("pack bytes: cold %d, after one commit %d", cold, incr)
	require.Less(t, incr, int64(16<<10), "only the new commit's objects are fetched")
	require.Contains(t, s.p2("acme", "acme/incr", s.token("acme", "read")), "1.1.0")

	// The mirror is read correctly after the fetch: the new archive holds
	// the new file and the old one.
	res, body := s.do("GET", strings.TrimPrefix(s.p2("acme", "acme/incr", s.token("acme", "read"))["1.1.0"]["dist"].(map[string]any)["url"].(string), s.url), s.token("acme", "read"), nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	names := strings.Join(zipNames(t, body), " ")
	require.Contains(t, names, "src/A.php")
	require.Contains(t, names, "noise.bin")
}

// Two replicas on one database: each periodic job (Composer's sync sweep
// and upstream re-check, the CAS collection) runs on the replica holding
// its lease only; stopping that replica hands every job to the other at
// once (it gives its leases up), within the lease time in any case.
func TestPeriodicJobsOnOneReplica(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		ctx := t.Context()
		cfg := DefaultConfig()
		cfg.SyncInterval = 300 * time.Millisecond
		// Two kernels on one SQLite file wait on each other's writes: the
		// lease leaves room for that.
		env := map[string]string{"PACKYARD_JOB_LEASE_TIME": "3s", "PACKYARD_GC_INTERVAL": "300ms"}
		a := newStack(t, stackOpts{postgres: pg, cfg: &cfg, background: true, env: env})
		shared := map[string]string{}
		for k, v := range a.k.Env {
			if k != "PACKYARD_HTTP_ADDR" {
				shared[k] = v
			}
		}
		b := newStack(t, stackOpts{postgres: pg, cfg: &cfg, background: true, env: shared})
		require.NotEqual(t, a.svc.jobs.Owner, b.svc.jobs.Owner)
		names := []string{sweepJob, recheckJob, "kernel:gc"}

		type lease struct {
			holder string
			last   int64
		}
		db := a.meta.DB()
		read := func() map[string]lease {
			out := map[string]lease{}
			for _, n := range names {
				var l lease
				err := db.QueryRow(ctx, `SELECT holder, last_run FROM job_leases WHERE name = ?`, n).Scan(&l.holder, &l.last)
				if err == nil {
					out[n] = l
				}
			}
			return out
		}
		// Watch for three seconds: one holder per job, whose runs go on.
		require.Eventually(t, func() bool { return len(read()) == len(names) }, 10*time.Second, 20*time.Millisecond)
		holders := map[string]map[string]bool{}
		runs := map[string]map[int64]bool{}
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
			for n, l := range read() {
				if holders[n] == nil {
					holders[n], runs[n] = map[string]bool{}, map[int64]bool{}
				}
				holders[n][l.holder] = true
				runs[n][l.last] = true
			}
		}
		holder := map[string]string{}
		for _, n := range names {
			require.Len(t, holders[n], 1, "%s is held by one replica all along", n)
			for h := range holders[n] {
				holder[n] = h
				require.Contains(t, []string{a.svc.jobs.Owner, b.svc.jobs.Owner}, h)
			}
			require.GreaterOrEqual(t, len(runs[n]), 4, "%s keeps running every interval", n)
		}

		// Stop the sweep's holder: the other replica takes over its jobs.
		stopped, other := a, b
		if holder[sweepJob] == b.svc.jobs.Owner {
			stopped, other = b, a
		}
		db = other.meta.DB() // the stopped replica's is closed
		before := read()
		start := time.Now()
		require.NoError(t, stopped.k.Stop())
		require.Eventually(t, func() bool {
			now := read()
			for _, n := range names {
				if now[n].holder != other.svc.jobs.Owner || now[n].last == before[n].last {
					return false
				}
			}
			return true
		}, 10*time.Second, 10*time.Millisecond, "the other replica holds and runs every job")
		took := time.Since(start)
		t.Logf("handover after a stop: %v (lease 3s)", took)
		require.Less(t, took, 3*time.Second, "within the lease time")
	})
}
