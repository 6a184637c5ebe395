package logging

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/packyard/packyard/pkg/errs"
)

// The log keeps the causes a client is never shown.
func TestErrorFieldsCarryTheDetail(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(detailCore{core})
	cause := errors.New("dial tcp 10.1.2.3:5432: connection refused")
	err := fmt.Errorf("token abc: %w", errs.Wrap(errs.ErrUnavailable, "database unavailable", cause))

	log.With(zap.Error(err)).Info("with")
	log.Error("write", zap.Error(err), zap.NamedError("other", errors.New("plain")))
	log.Debug("nil", zap.Error(nil))

	entries := logs.All()
	require.Len(t, entries, 3)
	for _, e := range entries[:2] {
		require.Equal(t, "token abc: database unavailable: dial tcp 10.1.2.3:5432: connection refused",
			e.ContextMap()["error"], e.Message)
	}
	require.Equal(t, "plain", entries[1].ContextMap()["other"])
	require.Equal(t, "token abc: database unavailable", err.Error(), "the error itself is unchanged")
}

func TestNew(t *testing.T) {
	log, err := New(Config{Level: "info", Format: "json"})
	require.NoError(t, err)
	_, ok := log.Core().(detailCore)
	require.True(t, ok, "the daemon's logger writes error details")
	_, err = New(Config{Level: "loud"})
	require.ErrorContains(t, err, "PACKYARD_LOG_LEVEL")
}
