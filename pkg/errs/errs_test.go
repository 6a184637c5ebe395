package errs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
)

func TestMapping(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   connect.Code
	}{
		{fmt.Errorf("x: %w", ErrNotFound), http.StatusNotFound, connect.CodeNotFound},
		{AlreadyExistsf("dup"), http.StatusConflict, connect.CodeAlreadyExists},
		{Invalidf("bad"), http.StatusBadRequest, connect.CodeInvalidArgument},
		{TooLargef("big"), http.StatusRequestEntityTooLarge, connect.CodeInvalidArgument},
		{fmt.Errorf("%w", ErrUnauthenticated), http.StatusUnauthorized, connect.CodeUnauthenticated},
		{PermissionDeniedf("no"), http.StatusForbidden, connect.CodePermissionDenied},
		{PreconditionFailedf("later"), http.StatusConflict, connect.CodeFailedPrecondition},
		{Unavailablef("down"), http.StatusServiceUnavailable, connect.CodeUnavailable},
		{fmt.Errorf("%w", ErrResourceExhausted), http.StatusTooManyRequests, connect.CodeResourceExhausted},
		{errors.New("boom"), http.StatusInternalServerError, connect.CodeInternal},
	}
	for _, c := range cases {
		require.Equal(t, c.status, HTTPStatus(c.err), c.err.Error())
		require.Equal(t, c.code, ConnectCode(c.err), c.err.Error())
		var ce *connect.Error
		require.ErrorAs(t, ToConnect(c.err), &ce)
		require.Equal(t, c.code, ce.Code())
	}
	require.Equal(t, "internal error", PublicMessage(errors.New("secret detail")), "internal errors never leak their text")
	require.Equal(t, "bad", PublicMessage(Invalidf("bad")))
	require.Equal(t, "bad", Invalidf("bad").Error(), "categorized messages do not repeat the category")
	require.Nil(t, ToConnect(nil))
}

// A dependency that is unavailable asks the client to come back: 503 and
// Connect's Unavailable carry Retry-After; nothing else does.
func TestRetryAfter(t *testing.T) {
	h := http.Header{}
	SetRetryAfter(h, http.StatusServiceUnavailable)
	require.Equal(t, RetryAfter, h.Get("Retry-After"))
	h = http.Header{}
	SetRetryAfter(h, http.StatusNotFound)
	require.Empty(t, h.Get("Retry-After"))

	var ce *connect.Error
	require.ErrorAs(t, ToConnect(Wrap(ErrUnavailable, "database unavailable", errors.New("dial tcp: refused"))), &ce)
	require.Equal(t, connect.CodeUnavailable, ce.Code())
	require.Equal(t, RetryAfter, ce.Meta().Get("Retry-After"))
	require.ErrorAs(t, ToConnect(connect.NewError(connect.CodeUnavailable, errors.New("down"))), &ce)
	require.Equal(t, RetryAfter, ce.Meta().Get("Retry-After"))
	require.ErrorAs(t, ToConnect(NotFoundf("no such module")), &ce)
	require.Empty(t, ce.Meta().Get("Retry-After"))
}
