package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/packyard/packyard/pkg/errs"
)

func TestRebind(t *testing.T) {
	require.Equal(t, "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)", Rebind("SELECT a FROM t WHERE x = ? AND y IN (?, ?)"))
	require.Equal(t, "SELECT '?' , $1", Rebind("SELECT '?' , ?"), "placeholders inside quotes stay")
	require.Equal(t, "SELECT 1", Rebind("SELECT 1"))
}

func TestMapErr(t *testing.T) {
	require.ErrorIs(t, MapErr(sql.ErrNoRows), errs.ErrNotFound)
	require.ErrorIs(t, MapErr(&pgconn.PgError{Code: "23505"}), errs.ErrAlreadyExists)
	require.ErrorIs(t, MapErr(&pgconn.PgError{Code: "23503"}), errs.ErrFailedPrecondition)
	require.ErrorIs(t, MapErr(&pgconn.PgError{Code: "08006"}), errs.ErrUnavailable)
	require.ErrorIs(t, MapErr(sql.ErrConnDone), errs.ErrUnavailable)
	other := errors.New("syntax")
	require.Equal(t, other, MapErr(other))
	wrapped := fmt.Errorf("x: %w", errs.ErrInvalidArgument)
	require.Equal(t, wrapped, MapErr(wrapped), "categorized errors pass unchanged")
	require.NoError(t, MapErr(nil))
}
