package jobs

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/changes"
)

// Runner is this process's side of the jobs: where they are stored, the
// name it claims them under, and how long a claim lasts unrenewed.
type Runner struct {
	Queue  Queue
	Leases Leases
	Owner  string        // NewOwner()
	Lease  time.Duration // a claim or lease lasts this long unrenewed; renewed every third of it
	Poll   time.Duration // how often an idle worker looks for due jobs (also when the change feed is lost)
	Log    *zap.Logger

	mu      sync.Mutex
	workers map[string][]*Worker // by kind, for Follow
}

// DefaultLease and DefaultPoll are a Runner's defaults.
const (
	DefaultLease = 30 * time.Second
	DefaultPoll  = time.Second
)

// NewRunner returns a Runner over one SQL store with the defaults.
func NewRunner(s *SQL, log *zap.Logger) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	return &Runner{Queue: s, Leases: s, Owner: NewOwner(), Lease: DefaultLease, Poll: DefaultPoll, Log: log}
}

// Handler does one job; an error fails the attempt.
type Handler func(ctx context.Context, j Job) error

// Worker runs the jobs of one kind, at most Concurrency at once.
type Worker struct {
	r           *Runner
	kind        string
	concurrency int
	backoff     Backoff
	maxAttempts int
	handle      Handler
	wake        chan struct{}
}

// WorkerOptions shape a Worker.
type WorkerOptions struct {
	Concurrency int     // jobs at once; at least 1
	Backoff     Backoff // delay before a failed job's next attempt
	MaxAttempts int     // attempts before a job fails for good; 0: no limit
}

// Worker returns a worker of the jobs of kind.
func (r *Runner) Worker(kind string, o WorkerOptions, h Handler) *Worker {
	w := &Worker{r: r, kind: kind, concurrency: max(o.Concurrency, 1), backoff: o.Backoff, maxAttempts: o.MaxAttempts,
		handle: h, wake: make(chan struct{}, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.workers == nil {
		r.workers = map[string][]*Worker{}
	}
	r.workers[kind] = append(r.workers[kind], w)
	return w
}

// Observe wakes the workers an event of the change feed concerns: those
// of a queued job's kind (a change of kind changes.Job, announced by the
// Enqueue of any replica), and every worker when the feed is Ready again
// (notifications may have gone unheard while it was lost). It never
// blocks; the workers poll every Poll whatever the feed does.
func (r *Runner) Observe(e changes.Event) {
	all := e.IsState && e.State == changes.Ready
	if !all && (e.IsState || e.Change.Kind != changes.Job) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for kind, ws := range r.workers {
		if !all && kind != e.Change.Key {
			continue
		}
		for _, w := range ws {
			w.Wake()
		}
	}
}

// Wake makes an idle worker look for due jobs now (after an Enqueue of
// this process); it never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs due jobs until ctx ends, then waits for the jobs in
// progress, whose attempts end as interrupted (due again at once, for any
// replica).
func (w *Worker) Run(ctx context.Context) {
	slots := make(chan struct{}, w.concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(w.r.Poll)
	defer t.Stop()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		j, ok, err := w.r.Queue.Claim(ctx, w.kind, w.r.Owner, w.r.Lease)
		if err != nil && ctx.Err() == nil {
			w.r.Log.Warn("claim a job", zap.String("kind", w.kind), zap.Error(err))
		}
		if !ok {
			<-slots
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			case <-t.C:
			}
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			w.run(ctx, j)
		})
	}
}

// run does one claimed job under its renewed lease and records the outcome.
func (w *Worker) run(ctx context.Context, j Job) {
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := w.r.renew(jctx, cancel, func(c context.Context) error { return w.r.Queue.Renew(c, j, w.r.Owner, w.r.Lease) })
	err := w.handle(jctx, j)
	lost := stop()
	if lost {
		w.r.Log.Warn("a job's lease was lost; another replica may run it", zap.String("kind", j.Kind), zap.String("key", j.Key))
		return
	}
	rec, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	switch {
	case err == nil:
		err = w.r.Queue.Done(rec, j, w.r.Owner)
	case ctx.Err() != nil: // stopping: another replica (or the next start) takes it now
		err = w.r.Queue.Retry(rec, j, w.r.Owner, "interrupted", time.Now())
	case w.maxAttempts > 0 && j.Attempts >= w.maxAttempts:
		err = w.r.Queue.Retry(rec, j, w.r.Owner, err.Error(), time.Time{})
	default:
		err = w.r.Queue.Retry(rec, j, w.r.Owner, err.Error(), time.Now().Add(w.backoff.Delay(j.Attempts)))
	}
	if err != nil {
		w.r.Log.Warn("record a job's outcome", zap.String("kind", j.Kind), zap.String("key", j.Key), zap.Error(err))
	}
}

// renew calls fn every third of the lease time until the returned stop is
// called; when fn reports ErrLeaseLost it calls lost. stop reports whether
// the lease was lost.
func (r *Runner) renew(ctx context.Context, lost func(), fn func(context.Context) error) (stop func() bool) {
	quit := make(chan struct{})
	var wasLost bool
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(r.Lease/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := fn(ctx)
			if errors.Is(err, ErrLeaseLost) {
				wasLost = true
				lost()
				return
			}
			if err != nil && ctx.Err() == nil {
				r.Log.Warn("renew a lease", zap.Error(err))
			}
		}
	})
	return func() bool {
		close(quit)
		wg.Wait()
		return wasLost
	}
}
