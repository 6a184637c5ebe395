// Package ratelimit throttles failed authentication per client address and
// per client address and token id (and, optionally, limits every token's
// request rate), with fixed-window counters shared by every replica through
// Redis, or kept in memory when Redis is not configured (or, for a moment,
// not reachable).
//
// Failure limits throttle failures only: a request is authenticated first,
// and only a failed attempt is counted and, past a limit, answered 429
// instead of 401. A correct secret is served whatever others did with its
// (public) token id or from its address.
//
// A refusal answers 429 with Retry-After and the rate-limit fields of
// draft-ietf-httpapi-ratelimit-headers-07:
//
//	RateLimit-Limit: 10          the window's quota
//	RateLimit-Remaining: 0       what is left of it
//	RateLimit-Reset: 42          seconds until the window ends
//	RateLimit-Policy: 10;w=300   quota and window (seconds)
//
// Connect clients get CodeResourceExhausted with the same headers.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

// Limit is a quota of N events per Window; N = 0 disables it.
type Limit struct {
	N      int
	Window time.Duration
}

// Config is the rate limits' configuration.
type Config struct {
	// FailuresPerAddress: PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS per
	// PACKYARD_RATELIMIT_AUTH_FAILURE_WINDOW.
	FailuresPerAddress Limit
	// FailuresPerAddressToken: failures naming one token id from one
	// address, PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS_AND_TOKEN (formerly
	// PACKYARD_RATELIMIT_AUTH_FAILURES_PER_TOKEN) per
	// PACKYARD_RATELIMIT_AUTH_FAILURE_WINDOW.
	FailuresPerAddressToken Limit
	// RequestsPerToken: PACKYARD_RATELIMIT_REQUESTS_PER_TOKEN per
	// PACKYARD_RATELIMIT_REQUEST_WINDOW.
	RequestsPerToken Limit
}

// ConfigFromEnv reads the PACKYARD_RATELIMIT_* variables.
func ConfigFromEnv(l *config.Loader) Config {
	fw := l.Duration("PACKYARD_RATELIMIT_AUTH_FAILURE_WINDOW", 5*time.Minute)
	rw := l.Duration("PACKYARD_RATELIMIT_REQUEST_WINDOW", time.Minute)
	if fw < time.Second {
		l.Fail("PACKYARD_RATELIMIT_AUTH_FAILURE_WINDOW", "must be at least 1s")
	}
	if rw < time.Second {
		l.Fail("PACKYARD_RATELIMIT_REQUEST_WINDOW", "must be at least 1s")
	}
	// The former name of the address+token limit still works; the new one wins.
	perAddressToken := l.Int("PACKYARD_RATELIMIT_AUTH_FAILURES_PER_TOKEN", 10, 0, math.MaxInt32)
	return Config{
		FailuresPerAddress: Limit{N: l.Int("PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS", 30, 0, math.MaxInt32), Window: fw},
		FailuresPerAddressToken: Limit{N: l.Int("PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS_AND_TOKEN", perAddressToken, 0, math.MaxInt32),
			Window: fw},
		RequestsPerToken: Limit{N: l.Int("PACKYARD_RATELIMIT_REQUESTS_PER_TOKEN", 0, 0, math.MaxInt32), Window: rw},
	}
}

// Counter counts events per key in fixed windows that start with a key's
// first event.
type Counter interface {
	// Hit adds one event and returns the window's count and the time left in it.
	Hit(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error)
	// Peek returns the count and time left without adding (0, 0 when none).
	Peek(ctx context.Context, key string) (int64, time.Duration, error)
}

// Status is where a key stands against its limit; it renders the headers.
type Status struct {
	Limit     Limit
	Remaining int64
	Reset     time.Duration
}

var _ access.HeaderSetter = Status{}

func seconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// SetHeaders implements access.HeaderSetter.
func (s Status) SetHeaders(h http.Header) {
	h.Set("RateLimit-Limit", strconv.Itoa(s.Limit.N))
	h.Set("RateLimit-Remaining", strconv.FormatInt(max(s.Remaining, 0), 10))
	h.Set("RateLimit-Reset", seconds(s.Reset))
	h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%s", s.Limit.N, seconds(s.Limit.Window)))
}

// Exceeded is the error of a refused request: it wraps
// errs.ErrResourceExhausted and sets Retry-After and the rate-limit headers.
type Exceeded struct {
	Status
	What string // e.g. "failed sign-ins from 192.0.2.1"
}

var _ access.HeaderSetter = (*Exceeded)(nil)

func (e *Exceeded) Error() string {
	return fmt.Sprintf("too many %s: retry in %ss", e.What, seconds(e.Reset))
}

func (e *Exceeded) Unwrap() error { return errs.ErrResourceExhausted }

// SetHeaders implements access.HeaderSetter.
func (e *Exceeded) SetHeaders(h http.Header) {
	e.Status.SetHeaders(h)
	h.Set("Retry-After", seconds(e.Reset))
}

// Guard is packyard's auth.Guard over a Counter.
type Guard struct {
	cfg     Config
	counter Counter
	log     *zap.Logger
}

var _ auth.Guard = (*Guard)(nil)

// NewGuard returns a Guard counting with c.
func NewGuard(cfg Config, c Counter, log *zap.Logger) *Guard {
	if log == nil {
		log = zap.NewNop()
	}
	return &Guard{cfg: cfg, counter: c, log: log}
}

// failureCount is one failure limit and the key it counts under.
type failureCount struct {
	limit     Limit
	key, what string
}

// Failed implements auth.Guard: it counts a failure from addr, and of
// tokenID from addr, and returns an *Exceeded when a count is past its
// limit (the first N failures of a window are not refused).
func (g *Guard) Failed(ctx context.Context, addr, tokenID string) error {
	counts := []failureCount{{g.cfg.FailuresPerAddress, "fail:addr:" + addr, "failed sign-ins from " + addr}}
	if tokenID != "" {
		counts = append(counts, failureCount{g.cfg.FailuresPerAddressToken, "fail:addr-token:" + addr + "|" + tokenID,
			"failed sign-ins with token " + tokenID + " from " + addr})
	}
	var refusal error
	for _, c := range counts {
		if c.limit.N <= 0 || addr == "" {
			continue
		}
		n, ttl, err := g.counter.Hit(ctx, c.key, c.limit.Window)
		if err != nil {
			return err
		}
		if n > int64(c.limit.N) && refusal == nil {
			refusal = &Exceeded{Status: Status{Limit: c.limit, Remaining: 0, Reset: ttl}, What: c.what}
		}
	}
	return refusal
}

// Request implements auth.Guard: with a request quota per token, every
// authenticated request counts against it.
func (g *Guard) Request(ctx context.Context, p *access.Principal) (access.HeaderSetter, error) {
	l := g.cfg.RequestsPerToken
	if l.N <= 0 || p == nil {
		return nil, nil
	}
	key := "req:token:" + p.TokenID
	if p.TokenID == "" {
		key = "req:user:" + p.UserID
	}
	n, ttl, err := g.counter.Hit(ctx, key, l.Window)
	if err != nil {
		g.log.Warn("request rate not counted", zap.Error(err))
		return nil, nil
	}
	st := Status{Limit: l, Remaining: int64(l.N) - n, Reset: ttl}
	if n > int64(l.N) {
		return nil, &Exceeded{Status: st, What: "requests with this token"}
	}
	return st, nil
}
