package buf

import (
	"context"
	"errors"
	"fmt"

	"buf.build/gen/go/bufbuild/registry/connectrpc/go/buf/registry/owner/v1/ownerv1connect"
	ownerv1 "buf.build/gen/go/bufbuild/registry/protocolbuffers/go/buf/registry/owner/v1"
	"connectrpc.com/connect"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// CreateOrganization creates an organization with the caller as its admin.
// Site administrators and users signed in with a token that is not limited
// to one organization may do so.
func (s *Service) CreateOrganization(ctx context.Context, name string, public bool) (metadata.Org, error) {
	p := principal(ctx)
	switch {
	case p == nil:
		return metadata.Org{}, fmt.Errorf("sign in to create an organization: %w", errs.ErrUnauthenticated)
	case p.Scope != "" && !p.Scope.Allows(metadata.RoleWrite):
		return metadata.Org{}, errs.PermissionDeniedf("the token's scope %q does not allow creating organizations", p.Scope)
	case !p.SiteAdmin && p.OrgID != "":
		return metadata.Org{}, errs.PermissionDeniedf("a token limited to one organization cannot create organizations")
	case public && p.Scope != "" && !p.Scope.Allows(metadata.RoleAdmin):
		return metadata.Org{}, errs.PermissionDeniedf("public organizations need a token with admin scope; create it private")
	}
	if err := metadata.CheckOrgName(name); err != nil {
		return metadata.Org{}, err
	}
	o, err := s.meta.CreateOrg(ctx, metadata.Org{ID: metadata.NewID(), Name: name, Public: public, CreatedAt: s.now()})
	if err != nil {
		return metadata.Org{}, err
	}
	if p.UserID != "" {
		if err := s.meta.SetMember(ctx, o.ID, p.UserID, metadata.RoleAdmin); err != nil {
			return metadata.Org{}, err
		}
	}
	s.record(ctx, audit.ActionOrgCreate, ownerFromOrg(o), o.Name, map[string]string{"via": "buf"})
	return o, nil
}

// DeleteOrganization deletes an organization that owns no modules.
func (s *Service) DeleteOrganization(ctx context.Context, r OwnerRef) error {
	o, err := s.GetOwner(ctx, r, "organization")
	if err != nil {
		return err
	}
	// Site administrators manage every organization (their tokens are
	// limited to one organization, which need not be this one).
	if p := principal(ctx); !(p != nil && p.SiteAdmin && p.Scope.Allows(metadata.RoleAdmin)) {
		if err := s.authorize(ctx, o, nil, access.ActionAdmin); err != nil {
			return err
		}
	}
	n, err := s.st.countModules(ctx, OwnerOrg, o.ID)
	if err != nil {
		return err
	}
	if n > 0 {
		return errs.PreconditionFailedf("organization %s still owns %d modules; delete them first", o.Name, n)
	}
	if err := s.meta.DeleteOrg(ctx, o.Name); err != nil {
		return err
	}
	s.record(ctx, audit.ActionOrgDelete, o, o.Name, map[string]string{"via": "buf"})
	return nil
}

// ---- Connect handlers ----

type ownerHandler struct {
	ownerv1connect.UnimplementedOrganizationServiceHandler
	s *Service
}

type userHandler struct {
	ownerv1connect.UnimplementedUserServiceHandler
	s *Service
}

var (
	_ ownerv1connect.OwnerServiceHandler        = (*ownerHandler)(nil)
	_ ownerv1connect.OrganizationServiceHandler = (*ownerHandler)(nil)
	_ ownerv1connect.UserServiceHandler         = (*userHandler)(nil)
)

func orgToV1(o Owner) *ownerv1.Organization {
	vis := ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PRIVATE
	if o.Public {
		vis = ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PUBLIC
	}
	return ownerv1.Organization_builder{
		Id: o.ID, Name: o.Name, CreateTime: ts(o.CreatedAt), UpdateTime: ts(o.CreatedAt),
		VerificationStatus: ownerv1.OrganizationVerificationStatus_ORGANIZATION_VERIFICATION_STATUS_UNVERIFIED,
		Visibility:         vis,
	}.Build()
}

func userToV1(o Owner) *ownerv1.User {
	typ := ownerv1.UserType_USER_TYPE_STANDARD
	if o.Bot {
		typ = ownerv1.UserType_USER_TYPE_BOT
	}
	role := ownerv1.UserInstanceRole_USER_INSTANCE_ROLE_MEMBER
	if o.Admin {
		role = ownerv1.UserInstanceRole_USER_INSTANCE_ROLE_ADMIN
	}
	return ownerv1.User_builder{
		Id: o.ID, Name: o.Name, CreateTime: ts(o.CreatedAt), UpdateTime: ts(o.CreatedAt), Type: typ,
		State:              ownerv1.UserState_USER_STATE_ACTIVE,
		VerificationStatus: ownerv1.UserVerificationStatus_USER_VERIFICATION_STATUS_UNVERIFIED,
		UserInstanceRole:   role,
	}.Build()
}

func (h *ownerHandler) GetOwners(ctx context.Context, req *connect.Request[ownerv1.GetOwnersRequest]) (*connect.Response[ownerv1.GetOwnersResponse], error) {
	refs := req.Msg.GetOwnerRefs()
	if len(refs) == 0 {
		return nil, errs.Invalidf("owner_refs is empty")
	}
	out := make([]*ownerv1.Owner, 0, len(refs))
	for _, r := range refs {
		ref, err := ownerRef(r, "an owner")
		if err != nil {
			return nil, err
		}
		o, err := h.s.GetOwner(ctx, ref, "owner")
		if err != nil {
			return nil, err
		}
		if o.Kind == OwnerUser {
			out = append(out, ownerv1.Owner_builder{User: userToV1(o)}.Build())
		} else {
			out = append(out, ownerv1.Owner_builder{Organization: orgToV1(o)}.Build())
		}
	}
	return connect.NewResponse(ownerv1.GetOwnersResponse_builder{Owners: out}.Build()), nil
}

func (h *ownerHandler) org(ctx context.Context, r *ownerv1.OrganizationRef) (Owner, error) {
	ref, err := ownerRef(r, "an organization")
	if err != nil {
		return Owner{}, err
	}
	return h.s.GetOwner(ctx, ref, "organization")
}

func (h *ownerHandler) GetOrganizations(ctx context.Context, req *connect.Request[ownerv1.GetOrganizationsRequest]) (*connect.Response[ownerv1.GetOrganizationsResponse], error) {
	refs := req.Msg.GetOrganizationRefs()
	if len(refs) == 0 {
		return nil, errs.Invalidf("organization_refs is empty")
	}
	out := make([]*ownerv1.Organization, 0, len(refs))
	for _, r := range refs {
		o, err := h.org(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, orgToV1(o))
	}
	return connect.NewResponse(ownerv1.GetOrganizationsResponse_builder{Organizations: out}.Build()), nil
}

func (h *ownerHandler) ListOrganizations(ctx context.Context, req *connect.Request[ownerv1.ListOrganizationsRequest]) (*connect.Response[ownerv1.ListOrganizationsResponse], error) {
	p, err := pageFrom(req.Msg.GetPageSize(), req.Msg.GetPageToken(), false)
	if err != nil {
		return nil, err
	}
	orgs, err := h.s.meta.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	var visible []*ownerv1.Organization
	for _, o := range orgs {
		if h.s.visibleOwner(ctx, ownerFromOrg(o)) == nil {
			visible = append(visible, orgToV1(ownerFromOrg(o)))
		}
	}
	if req.Msg.GetOrder() == ownerv1.ListOrganizationsRequest_ORDER_CREATE_TIME_DESC || req.Msg.GetOrder() == ownerv1.ListOrganizationsRequest_ORDER_UNSPECIFIED {
		for i, j := 0, len(visible)-1; i < j; i, j = i+1, j-1 {
			visible[i], visible[j] = visible[j], visible[i]
		}
	}
	start := min(p.Offset, len(visible))
	end := min(start+p.Limit, len(visible))
	page := visible[start:end]
	next := ""
	if end < len(visible) {
		next = fmt.Sprint(end)
	}
	return connect.NewResponse(ownerv1.ListOrganizationsResponse_builder{Organizations: page, NextPageToken: next}.Build()), nil
}

func (h *ownerHandler) CreateOrganizations(ctx context.Context, req *connect.Request[ownerv1.CreateOrganizationsRequest]) (*connect.Response[ownerv1.CreateOrganizationsResponse], error) {
	vals := req.Msg.GetValues()
	if len(vals) == 0 {
		return nil, errs.Invalidf("values is empty")
	}
	out := make([]*ownerv1.Organization, 0, len(vals))
	for _, v := range vals {
		if v.GetDescription() != "" || v.GetUrl() != "" {
			return nil, errs.Invalidf("packyard does not store organization descriptions or URLs")
		}
		public := v.HasVisibility() && v.GetVisibility() == ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PUBLIC
		o, err := h.s.CreateOrganization(ctx, v.GetName(), public)
		if err != nil {
			return nil, err
		}
		out = append(out, orgToV1(ownerFromOrg(o)))
	}
	return connect.NewResponse(ownerv1.CreateOrganizationsResponse_builder{Organizations: out}.Build()), nil
}

func (h *ownerHandler) UpdateOrganizations(ctx context.Context, req *connect.Request[ownerv1.UpdateOrganizationsRequest]) (*connect.Response[ownerv1.UpdateOrganizationsResponse], error) {
	vals := req.Msg.GetValues()
	if len(vals) == 0 {
		return nil, errs.Invalidf("values is empty")
	}
	out := make([]*ownerv1.Organization, 0, len(vals))
	for _, v := range vals {
		o, err := h.org(ctx, v.GetOrganizationRef())
		if err != nil {
			return nil, err
		}
		if err := h.s.authorize(ctx, o, nil, access.ActionAdmin); err != nil {
			return nil, err
		}
		if v.HasDescription() || v.HasUrl() || v.HasVerificationStatus() {
			return nil, errs.Invalidf("packyard stores only an organization's visibility")
		}
		if v.HasVisibility() {
			o.Public = v.GetVisibility() == ownerv1.OrganizationVisibility_ORGANIZATION_VISIBILITY_PUBLIC
			if err := h.s.meta.SetOrgPublic(ctx, o.Name, o.Public); err != nil {
				return nil, err
			}
		}
		out = append(out, orgToV1(o))
	}
	return connect.NewResponse(ownerv1.UpdateOrganizationsResponse_builder{Organizations: out}.Build()), nil
}

func (h *ownerHandler) DeleteOrganizations(ctx context.Context, req *connect.Request[ownerv1.DeleteOrganizationsRequest]) (*connect.Response[ownerv1.DeleteOrganizationsResponse], error) {
	refs := req.Msg.GetOrganizationRefs()
	if len(refs) == 0 {
		return nil, errs.Invalidf("organization_refs is empty")
	}
	for _, r := range refs {
		ref, err := ownerRef(r, "an organization")
		if err != nil {
			return nil, err
		}
		if err := h.s.DeleteOrganization(ctx, ref); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&ownerv1.DeleteOrganizationsResponse{}), nil
}

// CurrentUser returns the signed-in caller; Unauthenticated when anonymous.
func (s *Service) CurrentUser(ctx context.Context) (Owner, error) {
	p := principal(ctx)
	if p == nil || p.UserID == "" {
		return Owner{}, fmt.Errorf("not signed in: %w", errs.ErrUnauthenticated)
	}
	u, err := s.meta.GetUserByID(ctx, p.UserID)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return Owner{}, fmt.Errorf("the token's user no longer exists: %w", errs.ErrUnauthenticated)
		}
		return Owner{}, err
	}
	return ownerFromUser(u), nil
}

func (h *userHandler) GetCurrentUser(ctx context.Context, _ *connect.Request[ownerv1.GetCurrentUserRequest]) (*connect.Response[ownerv1.GetCurrentUserResponse], error) {
	u, err := h.s.CurrentUser(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(ownerv1.GetCurrentUserResponse_builder{User: userToV1(u)}.Build()), nil
}

func (h *userHandler) GetUsers(ctx context.Context, req *connect.Request[ownerv1.GetUsersRequest]) (*connect.Response[ownerv1.GetUsersResponse], error) {
	refs := req.Msg.GetUserRefs()
	if len(refs) == 0 {
		return nil, errs.Invalidf("user_refs is empty")
	}
	out := make([]*ownerv1.User, 0, len(refs))
	for _, r := range refs {
		ref, err := ownerRef(r, "a user")
		if err != nil {
			return nil, err
		}
		o, err := h.s.GetOwner(ctx, ref, "user")
		if err != nil {
			return nil, err
		}
		out = append(out, userToV1(o))
	}
	return connect.NewResponse(ownerv1.GetUsersResponse_builder{Users: out}.Build()), nil
}
