package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// refusingGuard is past every failure limit; it remembers what it counted.
type refusingGuard struct{ failed []string }

func (g *refusingGuard) Failed(_ context.Context, addr, tokenID string) error {
	g.failed = append(g.failed, addr+"|"+tokenID)
	return fmt.Errorf("too many failed sign-ins from %s: %w", addr, errs.ErrResourceExhausted)
}

func (g *refusingGuard) Request(context.Context, *access.Principal) (access.HeaderSetter, error) {
	return nil, nil
}

// A Guard past its limits never refuses correct credentials: requests are
// authenticated first, and only a failure is counted (with the client's
// address and the token's id) and answered 429 instead of 401, without a
// new audit record.
func TestMiddlewareThrottlesOnlyFailures(t *testing.T) {
	s, rec := auditStack(t)
	ctx := context.Background()
	_, err := s.CreateOrg(ctx, "acme", false)
	require.NoError(t, err)
	good, tk, err := s.CreateToken(ctx, auth.CreateTokenRequest{Org: "acme", Scope: metadata.RoleRead})
	require.NoError(t, err)
	wrong := good[:len(good)-4] + "0000"
	if wrong == good {
		wrong = good[:len(good)-4] + "1111"
	}
	g := &refusingGuard{}
	h := auth.NewMiddleware(auth.Chain{&auth.TokenAuthenticator{Store: s.Store}}, zap.NewNop(),
		auth.MiddlewareOptions{Audit: rec, Guard: g})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := access.PrincipalFrom(r.Context())
		require.True(t, ok)
	}))
	do := func(secret string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth("x", secret)
		h.ServeHTTP(w, r)
		return w.Code
	}
	require.Equal(t, http.StatusOK, do(good))
	require.Empty(t, g.failed, "a success is not counted")
	require.Equal(t, http.StatusTooManyRequests, do(wrong))
	require.Equal(t, []string{"192.0.2.1|" + tk.ID}, g.failed)
	require.Equal(t, http.StatusOK, do(good), "the owner is served past the limit")
	events, err := rec.List(ctx, audit.Query{Action: audit.ActionSignInFailed})
	require.NoError(t, err)
	require.Empty(t, events, "refused failures are not recorded again")
}
