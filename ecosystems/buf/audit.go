package buf

import (
	"context"

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

// record writes one audit event for a completed write (audit.Record: a
// failure to record is logged, not returned).
func (s *Service) record(ctx context.Context, action string, o Owner, resource string, details map[string]string) {
	org := ""
	if o.Kind == OwnerOrg {
		org = o.Name
	}
	audit.Record(ctx, s.audit, s.log, audit.Event{Action: action, Org: org, Resource: resource, Details: details})
}
