package composer

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/outbound"
	"github.com/packyard/packyard/pkg/sqldb"
)

// An upstream's state: whether it answered as a Composer 2 repository.
// Only upstreams in upstreamOK serve packages.
const (
	upstreamChecking = "checking" // added over the API; its first fetch is not done
	upstreamOK       = "ok"
	upstreamFailed   = "failed"
)

// upstreamCheckFailed is all an administrator reads of a failed check,
// whatever the cause: a closed port, one that never answers, a refused
// address, an HTTP error, a document that is not Composer's.
const upstreamCheckFailed = "not a Composer 2 repository packyard can read with these credentials"

// checkGrace is how long after its deadline a check's outcome is shown:
// time for a check that ran out of time to record it.
const checkGrace = time.Second

// orgUpstream is an upstream with its organization.
type orgUpstream struct {
	Org      orgRef
	Upstream upstreamRow
}

// checks runs the first fetch of upstreams added over the API in the
// background, so that adding one answers at once and alike whatever
// listens at its address. Stop ends them.
type checks struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newChecks() *checks {
	ctx, cancel := context.WithCancel(context.Background())
	return &checks{ctx: ctx, cancel: cancel}
}

// stop cancels the running checks and waits for them (or for ctx).
func (c *checks) stop(ctx context.Context) {
	c.cancel()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// checkDeadline is when an upstream's first check must be done:
// PACKYARD_COMPOSER_UPSTREAM_TIMEOUT after it was added. Its outcome is
// shown only after that (and checkGrace), whether the check failed at
// once or ran out of time, so how long it took tells nothing.
func (p *Proxy) checkDeadline(u upstreamRow) time.Time {
	return fromMicros(u.Created).Add(p.cfg.Upstream.Timeout)
}

// shownState is the state an administrator is told: "checking" until the
// check's outcome may be shown.
func (p *Proxy) shownState(u upstreamRow) string {
	if u.State == "" {
		return upstreamOK
	}
	if u.State != upstreamOK && p.repo.now().Before(p.checkDeadline(u).Add(checkGrace)) {
		return upstreamChecking
	}
	return u.State
}

// startCheck fetches a new upstream's packages.json in the background, by
// its deadline, and records the outcome.
func (p *Proxy) startCheck(org orgRef, u upstreamRow, password string) {
	p.checks.wg.Add(1)
	go func() {
		defer p.checks.wg.Done()
		ctx, cancel := context.WithDeadline(p.checks.ctx, p.checkDeadline(u))
		defer cancel()
		p.check(ctx, org, u, password)
	}()
}

// check fetches an upstream's packages.json: when it answers as a Composer
// 2 repository the document is stored and the upstream starts serving (the
// repository's generation moves, so cached upstream lists are dropped);
// otherwise it is marked failed. Every failure is logged with its cause.
func (p *Proxy) check(ctx context.Context, org orgRef, u upstreamRow, password string) {
	root, err := p.probe(ctx, u, password)
	if err != nil {
		p.log.Info("upstream check failed", zap.String("upstream", u.ID), zap.String("url", u.URL), zap.String("detail", outbound.Detail(err)))
		if _, err := p.store.setUpstreamState(context.WithoutCancel(ctx), p.store.db, u.ID, upstreamFailed); err != nil {
			p.log.Warn("record an upstream check", zap.String("upstream", u.ID), zap.Error(err))
		}
		return
	}
	wctx := context.WithoutCancel(ctx) // the fetch is done: its outcome is recorded whatever the deadline
	err = p.repo.write(wctx, org, nil, func(tx *sqldb.Tx, _ map[string]string) error {
		if found, err := p.store.setUpstreamState(wctx, tx, u.ID, upstreamOK); err != nil || !found {
			return err // removed meanwhile: nothing to store
		}
		return p.storeDoc(wctx, tx, u.ID, "packages.json", root)
	})
	if err != nil {
		p.log.Warn("record an upstream check", zap.String("upstream", u.ID), zap.Error(err))
		return
	}
	p.log.Info("upstream checked", zap.String("upstream", u.ID), zap.String("url", u.URL))
}

// recheck checks again, one after the other, the upstreams that failed
// their check (or whose check never ended: the process stopped), so that
// one that was down when it was added starts serving once it answers.
func (p *Proxy) recheck(ctx context.Context) {
	ups, err := p.store.uncheckedUpstreams(ctx)
	if err != nil {
		p.log.Warn("list upstreams to check", zap.Error(err))
		return
	}
	for _, o := range ups {
		if ctx.Err() != nil {
			return
		}
		if p.shownState(o.Upstream) == upstreamChecking {
			continue // its first check is under way
		}
		pw, err := p.client.password(ctx, o.Upstream)
		if err != nil {
			p.log.Warn("upstream credential", zap.String("upstream", o.Upstream.ID), zap.Error(err))
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, p.cfg.Upstream.Timeout)
		p.check(cctx, o.Org, o.Upstream, pw)
		cancel()
	}
}
