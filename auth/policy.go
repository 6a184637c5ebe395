package auth

import (
	"context"
	"errors"
	"fmt"
	"github.com/packyard/packyard/pkg/access"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Policy is packyard's access.Authorizer. It reads organizations and memberships
// from the metadata store on every call (one indexed query each, or none
// when the daemon's store keeps them in memory: see package authcache,
// which a change made by the CLI or another replica reaches within a second).
type Policy struct {
	Store metadata.Store
}

var _ access.Authorizer = (*Policy)(nil)

// Authorize implements access.Authorizer.
func (p *Policy) Authorize(ctx context.Context, who *access.Principal, a access.Action, res access.Resource) error {
	var org metadata.Org
	var member metadata.Role
	var err error
	if who != nil && !who.SiteAdmin {
		// One query for the organization and the caller's membership.
		org, member, err = p.Store.GetOrgRole(ctx, res.Org, who.UserID)
	} else {
		org, err = p.Store.GetOrg(ctx, res.Org)
	}
	if errors.Is(err, errs.ErrNotFound) {
		if who == nil {
			return unauthenticated(res)
		}
		return errs.NotFoundf("%s not found", describe(res))
	}
	if err != nil {
		return err
	}
	if org.Public && a == access.ActionRead {
		return nil
	}
	if who == nil {
		return unauthenticated(res)
	}
	role := effectiveRole(who, org, member)
	if role.Allows(a.Role()) {
		return nil
	}
	if role == "" && !org.Public {
		return errs.NotFoundf("%s not found", describe(res))
	}
	if role == "" {
		role = metadata.RoleRead // public organization
	}
	return errs.PermissionDeniedf("%s: this token has %s access to organization %q; %s access is needed", describe(res), role, org.Name, a)
}

// Role is the effective role of a principal in an organization: the lesser
// of the token's scope and the user's membership ("" when none). A site
// administrator's token acts with its scope in any organization it is not
// limited away from.
func (p *Policy) Role(ctx context.Context, who *access.Principal, org metadata.Org) (metadata.Role, error) {
	if who.SiteAdmin || (who.OrgID != "" && who.OrgID != org.ID) {
		return effectiveRole(who, org, ""), nil
	}
	member, err := p.Store.GetRole(ctx, org.ID, who.UserID)
	if errors.Is(err, errs.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return effectiveRole(who, org, member), nil
}

// effectiveRole combines a token's limits with the user's membership role
// ("" when none).
func effectiveRole(who *access.Principal, org metadata.Org, member metadata.Role) metadata.Role {
	switch {
	case who.OrgID != "" && who.OrgID != org.ID:
		return ""
	case who.SiteAdmin:
		return who.Scope
	case member == "":
		return ""
	case who.Scope == "":
		return member
	}
	return metadata.Min(member, who.Scope)
}

func unauthenticated(res access.Resource) error {
	return fmt.Errorf("authentication required for %s: %w", describe(res), errs.ErrUnauthenticated)
}

func describe(res access.Resource) string {
	switch {
	case res.Kind != "" && res.Name != "":
		return fmt.Sprintf("%s %q", res.Kind, res.Name)
	case res.Name != "":
		return fmt.Sprintf("%q", res.Name)
	}
	return fmt.Sprintf("organization %q", res.Org)
}
