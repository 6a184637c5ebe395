package audit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/packyard/packyard/pkg/audit"
)

type failingRecorder struct{}

func (failingRecorder) Record(context.Context, audit.Event) error { return errors.New("disk full") }

// A failed record is logged once at error level with the action, resource
// and request id, and returns nothing to fail the caller with.
func TestRecordLogsFailures(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ctx := audit.WithRequest(context.Background(), audit.Request{ID: "req-1"})
	audit.Record(ctx, failingRecorder{}, zap.New(core), audit.Event{Action: audit.ActionOrgCreate, Resource: "org/acme"})
	require.Equal(t, 1, logs.Len())
	e := logs.All()[0]
	require.Equal(t, zapcore.ErrorLevel, e.Level)
	fields := e.ContextMap()
	require.Equal(t, audit.ActionOrgCreate, fields["action"])
	require.Equal(t, "org/acme", fields["resource"])
	require.Equal(t, "req-1", fields["request_id"])
	require.Equal(t, "disk full", fields["error"])

	audit.Record(ctx, nil, zap.New(core), audit.Event{Action: audit.ActionOrgCreate})
	audit.Record(ctx, audit.Discard{}, nil, audit.Event{Action: audit.ActionOrgCreate})
	require.Equal(t, 1, logs.Len(), "nothing to log without a failure")
}
