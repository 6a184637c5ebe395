package redis

import (
	"context"
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/changes"
	"github.com/packyard/packyard/pkg/sqldb"
)

// changesChannel is the pub/sub channel of packyard's changes, under the key prefix.
const changesChannel = "changes"

// Timing of the change feed: how long it waits for a message before it
// pings its connection (an answer must come within twice that), how long it
// waits before resubscribing after a failure, and how long a publish may take.
const (
	changesIdle    = time.Second
	changesRetry   = 250 * time.Millisecond
	publishTimeout = 2 * time.Second
	changesBuffer  = 256
)

// Changes carries packyard's changes between replicas over Redis pub/sub:
// a Notifier that publishes a change once its transaction has committed,
// and a Feed.
type Changes struct {
	c *Cache
}

var (
	_ changes.Notifier = (*Changes)(nil)
	_ changes.Feed     = (*Changes)(nil)
)

// Changes returns the change channel of this Redis and key prefix.
func (c *Cache) Changes() *Changes { return &Changes{c: c} }

func (ch *Changes) channel() string { return ch.c.prefix + changesChannel }

// Notify implements changes.Notifier: it publishes c after the commit. A
// publish that fails is logged; replicas that miss it keep their stale
// entries, so Redis pub/sub is only as reliable as the network to Redis.
func (ch *Changes) Notify(_ context.Context, tx *sqldb.Tx, c changes.Change) error {
	tx.AfterCommit(func() {
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		if err := ch.c.client.Publish(ctx, ch.channel(), c.String()).Err(); err != nil {
			ch.c.log.Error("cannot publish a change to redis; other replicas may not see it", zap.Stringer("change", c), zap.Error(err))
		}
	})
	return nil
}

// Subscribe implements changes.Feed.
func (ch *Changes) Subscribe(ctx context.Context) (<-chan changes.Event, error) {
	out := make(chan changes.Event, changesBuffer)
	go changes.Serve(ctx, out, ch.session, func(err error) {
		ch.c.log.Warn("change notifications from redis lost; reading the database until they are back", zap.Error(err))
	}, changesRetry)
	return out, nil
}

// session subscribes on a connection of its own and delivers messages
// until it fails.
func (ch *Changes) session(ctx context.Context, out chan<- changes.Event) error {
	ps := ch.c.client.Subscribe(ctx)
	defer ps.Close()
	if err := ps.Subscribe(ctx, ch.channel()); err != nil {
		return err
	}
	pinged := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, changesIdle)
		var ne net.Error
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && errors.As(err, &ne) && ne.Timeout() && !pinged:
			// Idle: the next receive must bring the answer.
			if err := ps.Ping(ctx); err != nil {
				return err
			}
			pinged = true
			continue
		case err != nil:
			return err
		}
		pinged = false
		var e changes.Event
		switch m := msg.(type) {
		case *goredis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			e = changes.Event{IsState: true, State: changes.Ready}
		case *goredis.Message:
			e = changes.Event{Change: changes.Parse(m.Payload)}
		default:
			continue
		}
		if !changes.Send(ctx, out, e) {
			return ctx.Err()
		}
	}
}
