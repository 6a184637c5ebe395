package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/sqldb"
)

// Channel is the LISTEN/NOTIFY channel of packyard's changes, and
// ApplicationName names the feed's connection in pg_stat_activity.
const (
	Channel         = "packyard_changes"
	ApplicationName = "packyard-changes"
)

// Timing of the change feed: how long it waits for a notification before
// it checks that its connection still answers (within pingTimeout), and
// how long it waits between attempts to reconnect.
const (
	idleCheck    = time.Second
	pingTimeout  = 2 * time.Second
	retryWait    = 250 * time.Millisecond
	eventsBuffer = 256
)

// Notifier announces changes with pg_notify in the writer's transaction;
// PostgreSQL delivers them to every listener when it commits.
type Notifier struct{}

// Notify implements changes.Notifier.
func (Notifier) Notify(ctx context.Context, tx *sqldb.Tx, c changes.Change) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify(?, ?)`, Channel, c.String())
	return err
}

// Feed listens for changes on a connection of its own (LISTEN does not
// work through the pool), reconnecting when it is lost.
type Feed struct {
	Config Config
	Log    *zap.Logger
}

var _ changes.Feed = (*Feed)(nil)

// Subscribe implements changes.Feed.
func (f *Feed) Subscribe(ctx context.Context) (<-chan changes.Event, error) {
	cc, err := pgx.ParseConfig(f.Config.URL)
	if err != nil {
		return nil, err
	}
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = 10 * time.Second
	}
	cc.RuntimeParams["application_name"] = ApplicationName
	out := make(chan changes.Event, eventsBuffer)
	go changes.Serve(ctx, out, func(ctx context.Context, out chan<- changes.Event) error { return f.listen(ctx, cc, out) },
		func(err error) {
			f.Log.Warn("change notifications from postgres lost; reading the database until they are back", zap.Error(err))
		}, retryWait)
	return out, nil
}

// listen runs one connection: LISTEN, Ready, then the notifications.
func (f *Feed) listen(ctx context.Context, cc *pgx.ConnConfig, out chan<- changes.Event) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	if !changes.Send(ctx, out, changes.Event{IsState: true, State: changes.Ready}) {
		return ctx.Err()
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, idleCheck)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			if !changes.Send(ctx, out, changes.Event{Change: changes.Parse(n.Payload)}) {
				return ctx.Err()
			}
		case waitCtx.Err() != nil && !conn.IsClosed():
			// Idle: check the connection still answers.
			pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}
