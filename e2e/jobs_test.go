package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/packyard/packyard/e2e/harness"
	"github.com/packyard/packyard/pkg/jobs"
)

// A job queued on one replica is picked up by an idle worker of another
// replica over the same database. The queue announces each job on the
// change feed, which wakes the workers at once; the workers' polling
// (PACKYARD_JOB_POLL_INTERVAL) remains for when the feed is down. These
// tests run two kernels, queue on A (which has no worker of the kind) and
// time the pickup on B: with the feed and a 30 s poll interval every pickup
// must take well under a second; with the feed off or down, polling alone
// still picks every job up. Each logs the median and p99 of its pickups.

// pickupKind is the test's job kind: only B has a worker of it.
const pickupKind = "test:pickup"

// pickup is a pair of kernels over one database: A queues, B works.
type pickup struct {
	a, b   *jobs.Runner
	picked chan picked
}

type picked struct {
	key string
	at  time.Time
}

// kernelRunner starts a kernel and returns it with its job runner.
func kernelRunner(t *testing.T, backend harness.Backend, env map[string]string) (*harness.Kernel, *jobs.Runner) {
	t.Helper()
	var r *jobs.Runner
	k := harness.NewKernel(t, harness.KernelOptions{Backend: backend, Env: env, Modules: []fx.Option{fx.Populate(&r)}})
	return k, r
}

// newPickup starts A, then B over A's database (and cache) with envB
// added, and runs B's worker of pickupKind until the test ends.
func newPickup(t *testing.T, backend harness.Backend, env, envB map[string]string) *pickup {
	t.Helper()
	ka, ra := kernelRunner(t, backend, env)
	shared := map[string]string{}
	for k, v := range env {
		shared[k] = v
	}
	for _, name := range []string{"PACKYARD_DATABASE_URL", "PACKYARD_REDIS_URL", "PACKYARD_REDIS_PREFIX", "PACKYARD_S3_ENDPOINT",
		"PACKYARD_S3_BUCKET", "PACKYARD_S3_ACCESS_KEY", "PACKYARD_S3_SECRET_KEY", "PACKYARD_S3_REGION", "PACKYARD_S3_USE_TLS"} {
		if v, ok := ka.Env[name]; ok {
			shared[name] = v
		}
	}
	if backend == harness.Embedded {
		shared["PACKYARD_DATA_DIR"] = ka.Env["PACKYARD_DATA_DIR"] // the same SQLite file
	}
	for k, v := range envB {
		shared[k] = v
	}
	_, rb := kernelRunner(t, backend, shared)
	p := &pickup{a: ra, b: rb, picked: make(chan picked, 16)}
	w := rb.Worker(pickupKind, jobs.WorkerOptions{}, func(_ context.Context, j jobs.Job) error {
		p.picked <- picked{key: j.Key, at: time.Now()}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	time.Sleep(300 * time.Millisecond) // B's worker has looked once and is idle
	return p
}

// measure queues n jobs on A, one after the other, and returns how long
// each took to be picked up on B; a pickup slower than limit fails the test.
// Between two jobs it waits up to spread (spreading the jobs over the
// phases of B's poll), and a few milliseconds more.
func (p *pickup) measure(t *testing.T, label string, n int, spread, limit time.Duration) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := range n {
		key := fmt.Sprintf("%s-%d", label, i)
		start := time.Now()
		require.NoError(t, p.a.Queue.Enqueue(context.Background(), pickupKind, key))
		select {
		case got := <-p.picked:
			require.Equal(t, key, got.key)
			out = append(out, got.at.Sub(start))
		case <-time.After(limit):
			t.Fatalf("%s: job %d not picked up on the other replica within %v", label, i, limit)
		}
		time.Sleep(time.Duration(37*(i%7))*time.Millisecond + spread*time.Duration(i*61%n)/time.Duration(n))
	}
	s := slices.Clone(out)
	slices.Sort(s)
	t.Logf("%s: pickup on the other replica over %d jobs: median %v, p99 %v, max %v", label, n,
		s[len(s)/2].Round(time.Microsecond), s[(len(s)*99+99)/100-1].Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
	return out
}

// feedPickup is the bound on a pickup woken by the feed: well under a
// second, and far under the 30 s poll interval of these tests.
const feedPickup = time.Second

func TestJobPickupAcrossReplicasPostgres(t *testing.T) {
	t.Run("feed", func(t *testing.T) {
		p := newPickup(t, harness.Services, map[string]string{"PACKYARD_JOB_POLL_INTERVAL": "30s"}, nil)
		p.measure(t, "postgres LISTEN/NOTIFY, poll 30s", 40, 0, feedPickup)
	})
	t.Run("poll only", func(t *testing.T) {
		// The behaviour without the feed's wake (as before it), at the
		// default poll interval: a pickup waits for the next poll.
		p := newPickup(t, harness.Services, map[string]string{"PACKYARD_CHANGE_FEED": "off", "PACKYARD_JOB_POLL_INTERVAL": "1s"}, nil)
		d := p.measure(t, "no feed, poll 1s", 20, time.Second, 5*time.Second)
		slices.Sort(d)
		require.Greater(t, d[len(d)/2], 50*time.Millisecond, "without the feed a pickup waits for a poll")
	})
	t.Run("redis feed down", func(t *testing.T) {
		rd := harness.StartRedis(t)
		p := newPickup(t, harness.Services, map[string]string{"PACKYARD_CHANGE_FEED": "redis", "PACKYARD_REDIS_URL": rd.URL(),
			"PACKYARD_JOB_POLL_INTERVAL": "2s"}, nil)
		p.measure(t, "redis pub/sub, poll 2s", 10, 0, feedPickup)
		rd.Stop()
		p.measure(t, "redis stopped, poll 2s", 5, 2*time.Second, 2*time.Second+3*time.Second)
		rd.Start()
		time.Sleep(2 * time.Second) // the feed resubscribes
		p.measure(t, "redis back, poll 2s", 5, 0, feedPickup)
	})
}

// On SQLite the feed is the change counter, which every process opening
// the file sees (the daemon, the CLI, a second daemon as here).
func TestJobPickupAcrossReplicasSQLite(t *testing.T) {
	p := newPickup(t, harness.Embedded, map[string]string{"PACKYARD_JOB_POLL_INTERVAL": "30s"}, nil)
	p.measure(t, "sqlite change counter, poll 30s", 20, 0, feedPickup)
}
