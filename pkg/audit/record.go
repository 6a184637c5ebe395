package audit

import (
	"context"

	"go.uber.org/zap"
)

// Record stores e, the event of something that has already happened (a
// change made, a sign-in refused), through rec; a nil rec records nothing.
// This is packyard's one failure policy for audit records: what e
// describes stands whatever happens here, so a failure to record never
// fails the caller. It is logged at error level with the event's action,
// resource and request id, for an operator to notice the gap in the trail.
func Record(ctx context.Context, rec Recorder, log *zap.Logger, e Event) {
	if rec == nil {
		return
	}
	err := rec.Record(ctx, e)
	if err == nil {
		return
	}
	if log == nil {
		log = zap.NewNop()
	}
	requestID := e.RequestID
	if r, ok := RequestFrom(ctx); ok && requestID == "" {
		requestID = r.ID
	}
	log.Error("audit record failed", zap.String("action", e.Action), zap.String("resource", e.Resource),
		zap.String("request_id", requestID), zap.Error(err))
}
