package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is a Counter local to this process.
type Memory struct {
	mu    sync.Mutex
	now   func() time.Time
	items map[string]window
	ops   int
}

type window struct {
	n   int64
	end time.Time
}

var _ Counter = (*Memory)(nil)

// NewMemory returns an empty in-memory counter.
func NewMemory() *Memory { return &Memory{now: time.Now, items: map[string]window{}} }

// sweepEvery is how many operations pass between removals of ended windows.
const sweepEvery = 1024

func (m *Memory) sweep(now time.Time) {
	m.ops++
	if m.ops%sweepEvery != 0 {
		return
	}
	for k, w := range m.items {
		if !now.Before(w.end) {
			delete(m.items, k)
		}
	}
}

// Hit implements Counter.
func (m *Memory) Hit(_ context.Context, key string, d time.Duration) (int64, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	w, ok := m.items[key]
	if !ok || !now.Before(w.end) {
		w = window{end: now.Add(d)}
	}
	w.n++
	m.items[key] = w
	return w.n, w.end.Sub(now), nil
}

// Peek implements Counter.
func (m *Memory) Peek(_ context.Context, key string) (int64, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	w, ok := m.items[key]
	if !ok || !now.Before(w.end) {
		return 0, 0, nil
	}
	return w.n, w.end.Sub(now), nil
}
