package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/auth/ratelimit"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/testenv"
)

func counters(t *testing.T) map[string]func() ratelimit.Counter {
	return map[string]func() ratelimit.Counter{
		"memory": func() ratelimit.Counter { return ratelimit.NewMemory() },
		"redis": func() ratelimit.Counter {
			r, err := ratelimit.NewRedis(testenv.RedisURL(t), testenv.RandomName("rl")+":", zap.NewNop())
			require.NoError(t, err)
			t.Cleanup(func() { r.Close() })
			return r
		},
	}
}

// Counters count per key in windows that end and start over.
func TestCounters(t *testing.T) {
	for name, newCounter := range counters(t) {
		t.Run(name, func(t *testing.T) {
			c := newCounter()
			ctx := context.Background()
			n, ttl, err := c.Peek(ctx, "a")
			require.NoError(t, err)
			require.Zero(t, n)
			require.Zero(t, ttl)
			for i := 1; i <= 3; i++ {
				n, ttl, err = c.Hit(ctx, "a", 300*time.Millisecond)
				require.NoError(t, err)
				require.EqualValues(t, i, n)
				require.Greater(t, ttl, time.Duration(0))
				require.LessOrEqual(t, ttl, 300*time.Millisecond)
			}
			n, _, err = c.Peek(ctx, "a")
			require.NoError(t, err)
			require.EqualValues(t, 3, n)
			n, _, err = c.Hit(ctx, "b", time.Second)
			require.NoError(t, err)
			require.EqualValues(t, 1, n, "keys are separate")
			time.Sleep(350 * time.Millisecond)
			n, _, err = c.Peek(ctx, "a")
			require.NoError(t, err)
			require.Zero(t, n, "the window ended")
			n, _, err = c.Hit(ctx, "a", time.Second)
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
		})
	}
}

// Two Redis counters with the same prefix (two replicas) share counts.
func TestRedisShared(t *testing.T) {
	url, prefix := testenv.RedisURL(t), testenv.RandomName("rl")+":"
	a, err := ratelimit.NewRedis(url, prefix, nil)
	require.NoError(t, err)
	defer a.Close()
	b, err := ratelimit.NewRedis(url, prefix, nil)
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()
	_, _, err = a.Hit(ctx, "k", time.Minute)
	require.NoError(t, err)
	n, _, err := b.Hit(ctx, "k", time.Minute)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
}

// Without Redis the counter keeps limiting on this replica.
func TestRedisDownFallsBackToMemory(t *testing.T) {
	r, err := ratelimit.NewRedis("redis://127.0.0.1:1/0", "x:", zap.NewNop())
	require.NoError(t, err)
	defer r.Close()
	for i := 1; i <= 3; i++ {
		n, _, err := r.Hit(context.Background(), "k", time.Minute)
		require.NoError(t, err)
		require.EqualValues(t, i, n)
	}
}

func principalHandler(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }

type fakeAuthn struct{}

// Authenticate accepts the Bearer token "good" (a unit-test stand-in: the
// token authenticator itself is tested against real databases in auth).
func (fakeAuthn) Authenticate(_ context.Context, r *http.Request) (*access.Principal, error) {
	secret, ok, err := auth.CredentialFromRequest(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, access.ErrNoCredentials
	}
	if secret == "good" || secret == fakeToken(1) {
		return &access.Principal{UserID: "u", UserName: "u", TokenID: "t"}, nil
	}
	return nil, fmt.Errorf("bad token: %w", errs.ErrUnauthenticated)
}

func middlewareRequests(g *ratelimit.Guard) func(addr, secret string, connectProto bool) *httptest.ResponseRecorder {
	h := auth.NewMiddleware(fakeAuthn{}, zap.NewNop(), auth.MiddlewareOptions{Guard: g})(http.HandlerFunc(principalHandler))
	return func(addr, secret string, connectProto bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if connectProto {
			r = httptest.NewRequest(http.MethodPost, "/svc/Method", nil)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Connect-Protocol-Version", "1")
		}
		r.RemoteAddr = addr + ":1234"
		if secret != "" {
			r.Header.Set("Authorization", "Bearer "+secret)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
}

// fakeToken is a token text with the fake authenticator's id; secret 1 is
// the correct one.
func fakeToken(secret int) string { return "pky_00000000000000aa_" + fmt.Sprintf("%048d", secret) }

// After N failures from an address, further failures from it get 429 with
// Retry-After and the draft-07 fields until the window ends, while correct
// credentials from it are still served and anonymous requests pass.
// Connect clients get ResourceExhausted.
func TestGuardInMiddleware(t *testing.T) {
	cfg := ratelimit.Config{FailuresPerAddress: ratelimit.Limit{N: 3, Window: time.Minute},
		FailuresPerAddressToken: ratelimit.Limit{N: 2, Window: time.Minute}}
	do := middlewareRequests(ratelimit.NewGuard(cfg, ratelimit.NewMemory(), nil))
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, do("192.0.2.1", "bad", false).Code)
	}
	w := do("192.0.2.1", "bad", false)
	require.Equal(t, http.StatusTooManyRequests, w.Code, "further failures wait")
	retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 60, retry, 2)
	require.Equal(t, "3", w.Header().Get("RateLimit-Limit"))
	require.Equal(t, "0", w.Header().Get("RateLimit-Remaining"))
	require.Equal(t, w.Header().Get("Retry-After"), w.Header().Get("RateLimit-Reset"))
	require.Equal(t, "3;w=60", w.Header().Get("RateLimit-Policy"))
	require.Contains(t, w.Body.String(), "too many failed sign-ins from 192.0.2.1")
	require.Equal(t, http.StatusOK, do("192.0.2.1", "good", false).Code, "correct credentials are served")
	require.Equal(t, http.StatusOK, do("192.0.2.1", "", false).Code, "anonymous requests are not limited")
	require.Equal(t, http.StatusOK, do("192.0.2.2", "good", false).Code, "other addresses are not limited")
	require.Equal(t, http.StatusUnauthorized, do("192.0.2.2", "bad", false).Code, "other addresses are not limited")

	w = do("192.0.2.1", "bad", true)
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Contains(t, w.Body.String(), `"code":"resource_exhausted"`)
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.Equal(t, http.StatusOK, do("192.0.2.1", "good", true).Code)

	// Per address and token id: failures with one token id from one address.
	tok := fakeToken(2)
	require.Equal(t, http.StatusUnauthorized, do("198.51.100.1", tok, false).Code)
	require.Equal(t, http.StatusUnauthorized, do("198.51.100.1", tok, false).Code)
	w = do("198.51.100.1", tok, false)
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	require.Equal(t, "2", w.Header().Get("RateLimit-Limit"))
	require.Contains(t, w.Body.String(), "too many failed sign-ins with token 00000000000000aa from 198.51.100.1")
	// The same id from other addresses is not limited: the id is public.
	require.Equal(t, http.StatusUnauthorized, do("198.51.100.2", tok, false).Code)
	require.Equal(t, http.StatusUnauthorized, do("198.51.100.3", tok, false).Code)
	require.Equal(t, http.StatusOK, do("198.51.100.1", fakeToken(1), false).Code, "the token's owner is served")
}

// Ten bad secrets with a token's id from one address (the default limits)
// never lock the token's owner out: the correct token answers 200 from that
// address and from another, while the attacker's further failures get 429.
func TestFailuresNeverLockOutTheOwner(t *testing.T) {
	cfg := ratelimit.ConfigFromEnv(config.NewLoader(config.Map(nil)))
	require.Equal(t, 10, cfg.FailuresPerAddressToken.N)
	for name, newCounter := range counters(t) {
		t.Run(name, func(t *testing.T) {
			do := middlewareRequests(ratelimit.NewGuard(cfg, newCounter(), nil))
			attacker, owner := "203.0.113.7", "198.51.100.20"
			for i := range 10 {
				require.Equal(t, http.StatusUnauthorized, do(attacker, fakeToken(100+i), false).Code, i)
			}
			require.Equal(t, http.StatusOK, do(attacker, fakeToken(1), false).Code, "from the attacker's address")
			require.Equal(t, http.StatusOK, do(owner, fakeToken(1), false).Code, "from another address")
			require.Equal(t, http.StatusOK, do(owner, fakeToken(1), true).Code, "over Connect")
			w := do(attacker, fakeToken(200), false)
			require.Equal(t, http.StatusTooManyRequests, w.Code, "the attacker's eleventh failure")
			require.Equal(t, "10", w.Header().Get("RateLimit-Limit"))
			require.NotEmpty(t, w.Header().Get("Retry-After"))
			require.Equal(t, http.StatusUnauthorized, do(owner, fakeToken(3), false).Code, "the owner's own typo is not throttled")
			require.Equal(t, http.StatusOK, do(attacker, fakeToken(1), false).Code, "and still the owner is served")
		})
	}
}

// The address+token limit reads its former name too; the new name wins.
func TestFailureLimitNames(t *testing.T) {
	load := func(env map[string]string) ratelimit.Config {
		l := config.NewLoader(config.Map(env))
		c := ratelimit.ConfigFromEnv(l)
		require.NoError(t, l.Err())
		return c
	}
	require.Equal(t, 4, load(map[string]string{"PACKYARD_RATELIMIT_AUTH_FAILURES_PER_TOKEN": "4"}).FailuresPerAddressToken.N)
	require.Equal(t, 5, load(map[string]string{"PACKYARD_RATELIMIT_AUTH_FAILURES_PER_TOKEN": "4",
		"PACKYARD_RATELIMIT_AUTH_FAILURES_PER_ADDRESS_AND_TOKEN": "5"}).FailuresPerAddressToken.N)
}

// A request quota per token counts every authenticated request.
func TestRequestQuota(t *testing.T) {
	g := ratelimit.NewGuard(ratelimit.Config{RequestsPerToken: ratelimit.Limit{N: 2, Window: time.Minute}}, ratelimit.NewMemory(), nil)
	h := auth.NewMiddleware(fakeAuthn{}, zap.NewNop(), auth.MiddlewareOptions{Guard: g})(http.HandlerFunc(principalHandler))
	var codes []int
	var remaining []string
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer good")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes = append(codes, w.Code)
		remaining = append(remaining, w.Header().Get("RateLimit-Remaining"))
	}
	require.Equal(t, []int{200, 200, 429}, codes)
	require.Equal(t, []string{"1", "0", "0"}, remaining)
}

func TestExceededIsResourceExhausted(t *testing.T) {
	var err error = &ratelimit.Exceeded{What: "x"}
	require.True(t, errors.Is(err, errs.ErrResourceExhausted))
	require.Equal(t, connect.CodeResourceExhausted, errs.ConnectCode(err))
	require.Equal(t, http.StatusTooManyRequests, errs.HTTPStatus(err))
}
