package replicas

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/e2e/harness"
)

// The periodic jobs, named by what each logs when it runs: the CAS
// collection, and the Composer sweep that queues the syncs of stale git
// sources.
const (
	gcDone      = "gc"
	sweepQueued = "sync-sweep"
)

var jobLogs = map[string]string{
	gcDone:      `"msg":"garbage collection done"`,
	sweepQueued: `"msg":"periodic sync queued"`,
}

// TestPeriodicJobsRunOnOneReplica: with three replicas running, each periodic
// job (the CAS collection, the Composer sync sweep) runs on one replica only;
// when that replica is killed with SIGKILL, another one takes the job over
// once its lease has expired, and still only one runs it.
func TestPeriodicJobsRunOnOneReplica(t *testing.T) {
	const (
		interval = time.Second
		lease    = 2 * time.Second
	)
	c := newCluster(t, harness.Binary(t), 3, 3, map[string]string{
		"PACKYARD_GC_INTERVAL":            interval.String(),
		"PACKYARD_COMPOSER_SYNC_INTERVAL": interval.String(),
		"PACKYARD_JOB_LEASE_TIME":         lease.String(),
	})
	c.mustCLI("org", "create", "acme")
	g := harness.GitRepo(t)
	g.Commit(map[string]string{"composer.json": `{"name": "acme/synced"}`})
	g.Git("tag", "v1.0.0")
	c.mustCLI("composer", "add-vcs", "--org", "acme", "--url", "file://"+g.Dir)

	// Several intervals: every run of each job on one replica.
	before := jobRuns(c)
	time.Sleep(6 * interval)
	runs := since(before, jobRuns(c))
	logf(t, "runs per replica in 6 intervals: %v", runs)
	gcHolder := onlyRunner(t, runs, gcDone)
	onlyRunner(t, runs, sweepQueued)

	// The replica that collects dies; another takes the job over.
	dead := c.replicas[gcHolder]
	logf(t, "kill -9 %s (it ran the collection)", dead.name)
	dead.kill()
	killed := time.Now()
	before = jobRuns(c)
	var took time.Duration
	for took == 0 {
		if time.Since(killed) > lease+4*interval+5*time.Second {
			t.Fatalf("no replica took the collection over within %v of the kill", time.Since(killed))
		}
		time.Sleep(20 * time.Millisecond)
		for i, n := range since(before, jobRuns(c)) {
			if i != gcHolder && n[gcDone] > 0 {
				took = time.Since(killed)
			}
		}
	}
	logf(t, "the collection was taken over %v after the kill (lease %v, interval %v)", took.Round(time.Millisecond), lease, interval)
	require.Less(t, took, lease+2*interval+2*time.Second, "taken over about a lease and an interval after the kill")
	before = jobRuns(c)
	time.Sleep(5 * interval)
	runs = since(before, jobRuns(c))
	logf(t, "runs per replica in 5 intervals after the take-over: %v", runs)
	require.Zero(t, runs[gcHolder][gcDone], "the dead replica ran nothing")
	onlyRunner(t, runs, gcDone)
	onlyRunner(t, runs, sweepQueued)
}

// jobRuns counts each periodic job's runs in every replica's log.
func jobRuns(c *cluster) []map[string]int {
	out := make([]map[string]int, len(c.replicas))
	for i, r := range c.replicas {
		b, _ := os.ReadFile(r.log)
		log := string(b)
		out[i] = map[string]int{}
		for job, msg := range jobLogs {
			out[i][job] = strings.Count(log, msg)
		}
	}
	return out
}

func since(before, after []map[string]int) []map[string]int {
	out := make([]map[string]int, len(after))
	for i := range after {
		out[i] = map[string]int{}
		for k, v := range after[i] {
			out[i][k] = v - before[i][k]
		}
	}
	return out
}

// onlyRunner requires that exactly one replica ran job (at least twice) and
// returns its index.
func onlyRunner(t *testing.T, runs []map[string]int, job string) int {
	t.Helper()
	runner := -1
	for i, r := range runs {
		if r[job] == 0 {
			continue
		}
		require.Equal(t, -1, runner, "%s ran on more than one replica: %v", job, runs)
		runner = i
	}
	require.NotEqual(t, -1, runner, "%s ran on no replica: %v", job, runs)
	require.GreaterOrEqual(t, runs[runner][job], 2, "%s ran every interval: %v", job, runs)
	return runner
}
