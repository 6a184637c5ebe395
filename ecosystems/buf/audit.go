package buf

import (
	"context"

	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/audit"
)

// Audit actions of the buf ecosystem.
const (
	auditPush          = "buf.push"
	auditModuleCreate  = "buf.module.create"
	auditModuleUpdate  = "buf.module.update"
	auditModuleDelete  = "buf.module.delete"
	auditLabelMove     = "buf.label.move"
	auditLabelArchive  = "buf.label.archive"
	auditLabelUnarchiv = "buf.label.unarchive"
)

// record writes one audit event for a completed write. The write already
// happened, so a failure to record is logged, not returned.
func (s *Service) record(ctx context.Context, action string, o Owner, resource string, details map[string]string) {
	if s.audit == nil {
		return
	}
	org := ""
	if o.Kind == OwnerOrg {
		org = o.Name
	}
	if err := s.audit.Record(ctx, audit.Event{Action: action, Org: org, Resource: resource, Details: details}); err != nil {
		s.log.Error("audit record failed", zap.String("action", action), zap.String("resource", resource), zap.Error(err))
	}
}
