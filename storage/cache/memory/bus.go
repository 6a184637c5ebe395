package memory

import (
	"bytes"
	"context"
	"sync"
)

// subscriberBuffer is how many messages may wait for a slow subscriber
// before Publish blocks (until the subscriber catches up or ctx ends).
const subscriberBuffer = 256

type bus struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct {
	ch   chan []byte
	done <-chan struct{}
}

func (b *bus) subscribe(ctx context.Context, channel string, fn func([]byte)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s := &subscriber{ch: make(chan []byte, subscriberBuffer), done: ctx.Done()}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[string]map[*subscriber]struct{}{}
	}
	if b.subs[channel] == nil {
		b.subs[channel] = map[*subscriber]struct{}{}
	}
	b.subs[channel][s] = struct{}{}
	b.mu.Unlock()

	go func() {
		defer func() {
			b.mu.Lock()
			delete(b.subs[channel], s)
			if len(b.subs[channel]) == 0 {
				delete(b.subs, channel)
			}
			b.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case msg := <-s.ch:
				fn(msg)
			}
		}
	}()
	return nil
}

func (b *bus) publish(ctx context.Context, channel string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	subs := make([]*subscriber, 0, len(b.subs[channel]))
	for s := range b.subs[channel] {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		select {
		case s.ch <- bytes.Clone(msg):
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
