package web

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/metadata"
)

// Viewer is who is looking at a page: anonymous, or signed in (through a
// session cookie or an Authorization header) as a principal. Its rights are
// the principal's, asked of the same access.Authorizer as the API, so a page
// never shows or does more than the CLI could with the same token.
type Viewer struct {
	// Principal is the caller, nil when anonymous.
	Principal *access.Principal
	// Session is true when the principal comes from a session cookie (the
	// page offers sign-out).
	Session bool
	// Ended is true when the request carried a session that is no longer
	// valid (its token was revoked or expired, its user deleted).
	Ended bool

	authz access.Authorizer
}

type viewerKey struct{}

// ViewerOf returns the viewer of a page request; never nil (anonymous
// outside the kit's routes).
func ViewerOf(c echo.Context) *Viewer {
	if v, ok := c.Get("web.viewer").(*Viewer); ok && v != nil {
		return v
	}
	return &Viewer{}
}

// ViewerFrom returns the viewer a page request's context carries (for code
// that only has the context); never nil.
func ViewerFrom(ctx context.Context) *Viewer {
	if v, ok := ctx.Value(viewerKey{}).(*Viewer); ok && v != nil {
		return v
	}
	return &Viewer{}
}

// SignedIn reports whether the viewer is not anonymous.
func (v *Viewer) SignedIn() bool { return v.Principal != nil }

// Name is the user's name, "" when anonymous.
func (v *Viewer) Name() string {
	if v.Principal == nil {
		return ""
	}
	return v.Principal.UserName
}

// SiteAdmin reports whether the viewer acts as a site administrator with
// a token not limited to one organization and of admin scope (what the
// audit API asks for the whole log).
func (v *Viewer) SiteAdmin() bool {
	p := v.Principal
	return p != nil && p.SiteAdmin && p.OrgID == "" && p.Scope == metadata.RoleAdmin
}

// Authorize asks the authorizer whether the viewer may do a to res: nil or
// an error of category Unauthenticated, NotFound or PermissionDenied, which
// a handler returns as is (the kit renders the page for it).
func (v *Viewer) Authorize(ctx context.Context, a access.Action, res access.Resource) error {
	if v.authz == nil {
		return errNoAuthorizer
	}
	return v.authz.Authorize(ctx, v.Principal, a, res)
}

// Can reports whether the viewer may do a in org: for showing or hiding
// controls. The handler of the control still calls Authorize.
func (v *Viewer) Can(ctx context.Context, a access.Action, org string) bool {
	return v.Authorize(ctx, a, access.Resource{Org: org}) == nil
}
