package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/sqldb"
)

// AuthScope is the generation a SQLite writer bumps, in its transaction,
// for every change other than a generation's own or a job's: the feed sees
// it move. A queued job bumps JobScope+its kind instead, which the feed
// reports as a change of kind Job (no cache forgets anything for it).
const (
	AuthScope = "packyard:auth"
	JobScope  = "packyard:job:"
)

// Timing of the feed: how often it reads the change counter, and how long
// it waits before it tries again after an error.
const (
	PollInterval = 100 * time.Millisecond
	retryWait    = time.Second
	eventsBuffer = 256
)

// Notifier records a change in the writer's transaction, where the feed of
// every process that opened the file (the daemon, the CLI) finds it: a
// generation is its own record; a job bumps JobScope+kind; any other change
// bumps AuthScope.
type Notifier struct{}

// Notify implements changes.Notifier.
func (Notifier) Notify(ctx context.Context, tx *sqldb.Tx, c changes.Change) error {
	scope := AuthScope
	switch c.Kind {
	case changes.Generation:
		return nil
	case changes.Job:
		scope = JobScope + c.Key
	}
	_, err := tx.Exec(ctx, `INSERT INTO generations (scope, gen) VALUES (?, 1)
		ON CONFLICT (scope) DO UPDATE SET gen = generations.gen + 1`, scope)
	return err
}

// Feed polls PRAGMA data_version on a connection of its own: it moves when
// any other connection, of this process or another, commits. Then it reads
// the generations and reports those that moved (AuthScope as a change of
// kind All).
type Feed struct {
	DB       *sqldb.DB
	Log      *zap.Logger
	Interval time.Duration // 0: PollInterval
}

var _ changes.Feed = (*Feed)(nil)

// Subscribe implements changes.Feed.
func (f *Feed) Subscribe(ctx context.Context) (<-chan changes.Event, error) {
	out := make(chan changes.Event, eventsBuffer)
	go changes.Serve(ctx, out, f.poll, func(err error) {
		f.Log.Warn("cannot read sqlite's change counter; reading the database until it can", zap.Error(err))
	}, retryWait)
	return out, nil
}

// poll watches on one connection until it fails.
func (f *Feed) poll(ctx context.Context, out chan<- changes.Event) error {
	conn, err := f.DB.SQL().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	version, err := dataVersion(ctx, conn)
	if err != nil {
		return err
	}
	gens, err := generations(ctx, conn)
	if err != nil {
		return err
	}
	if !changes.Send(ctx, out, changes.Event{IsState: true, State: changes.Ready}) {
		return ctx.Err()
	}
	interval := f.Interval
	if interval <= 0 {
		interval = PollInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		v, err := dataVersion(ctx, conn)
		if err != nil {
			return err
		}
		if v == version {
			continue
		}
		version = v
		now, err := generations(ctx, conn)
		if err != nil {
			return err
		}
		for _, c := range moved(gens, now) {
			if !changes.Send(ctx, out, changes.Event{Change: c}) {
				return ctx.Err()
			}
		}
		gens = now
	}
}

// moved lists the changes between two readings of the generations.
func moved(before, now map[string]int64) []changes.Change {
	var out []changes.Change
	for scope, g := range now {
		if before[scope] == g {
			continue
		}
		out = append(out, scopeChange(scope))
	}
	for scope := range before {
		if _, ok := now[scope]; !ok {
			out = append(out, scopeChange(scope))
		}
	}
	return out
}

// scopeChange is the change a moved generation stands for.
func scopeChange(scope string) changes.Change {
	if scope == AuthScope {
		return changes.Change{Kind: changes.All}
	}
	if kind, ok := strings.CutPrefix(scope, JobScope); ok {
		return changes.Change{Kind: changes.Job, Key: kind}
	}
	return changes.Change{Kind: changes.Generation, Key: scope}
}

func dataVersion(ctx context.Context, conn *sql.Conn) (int64, error) {
	var v int64
	err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
	return v, err
}

func generations(ctx context.Context, conn *sql.Conn) (map[string]int64, error) {
	rows, err := conn.QueryContext(ctx, `SELECT scope, gen FROM generations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var scope string
		var g int64
		if err := rows.Scan(&scope, &g); err != nil {
			return nil, err
		}
		out[scope] = g
	}
	return out, rows.Err()
}
