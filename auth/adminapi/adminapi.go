// Package adminapi serves the kernel's part of the admin REST API:
// organizations, their members and tokens, and users, as the CLI's `org`,
// `user` and `token` commands, under /api/v1 (see openapi.yaml beside it).
//
// Every change goes through auth.Service, as the CLI's do; who may make it
// is decided by the organization policy (access.Authorizer) for the
// organization concerned, and site-wide changes (users, creating
// organizations) need a site administrator's sign-in token.
package adminapi

import (
	_ "embed"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/server"
)

//go:embed openapi.yaml
var fragment []byte

// Fragment is this API's part of the OpenAPI document.
func Fragment() api.Fragment { return api.Fragment{Name: "auth", YAML: fragment} }

// API serves the routes.
type API struct {
	Admin *auth.Service
	Store metadata.Store
	Authz access.Authorizer
	Log   *zap.Logger
	Now   func() time.Time // nil: time.Now
}

// Routes are the API's routes for the kernel's outer mux.
func (a *API) Routes() []server.Route {
	h := func(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := f(w, r); err != nil {
				api.Fail(w, r, err)
			}
		})
	}
	return []server.Route{
		{Pattern: "GET /api/v1/orgs", Handler: h(a.listOrgs)},
		{Pattern: "POST /api/v1/orgs", Handler: h(a.createOrg)},
		{Pattern: "GET /api/v1/orgs/{org}", Handler: h(a.getOrg)},
		{Pattern: "PATCH /api/v1/orgs/{org}", Handler: h(a.updateOrg)},
		{Pattern: "DELETE /api/v1/orgs/{org}", Handler: h(a.deleteOrg)},
		{Pattern: "GET /api/v1/orgs/{org}/members", Handler: h(a.listMembers)},
		{Pattern: "PUT /api/v1/orgs/{org}/members/{user}", Handler: h(a.setMember)},
		{Pattern: "DELETE /api/v1/orgs/{org}/members/{user}", Handler: h(a.removeMember)},
		{Pattern: "GET /api/v1/orgs/{org}/tokens", Handler: h(a.listTokens)},
		{Pattern: "POST /api/v1/orgs/{org}/tokens", Handler: h(a.createToken)},
		{Pattern: "DELETE /api/v1/tokens/{id}", Handler: h(a.revokeToken)},
		{Pattern: "GET /api/v1/users", Handler: h(a.listUsers)},
		{Pattern: "POST /api/v1/users", Handler: h(a.createUser)},
		{Pattern: "PATCH /api/v1/users/{user}", Handler: h(a.updateUser)},
		{Pattern: "DELETE /api/v1/users/{user}", Handler: h(a.deleteUser)},
	}
}

func caller(r *http.Request) *access.Principal {
	p, _ := access.PrincipalFrom(r.Context())
	return p
}

// authorize checks the caller's right to act on an organization.
func (a *API) authorize(r *http.Request, act access.Action, org, kind, name string) error {
	return a.Authz.Authorize(r.Context(), caller(r), act, access.Resource{Org: org, Kind: kind, Name: name})
}

// siteAdmin checks that the caller is a site administrator.
func siteAdmin(r *http.Request, what string) error {
	p := caller(r)
	switch {
	case p == nil:
		return errs.Wrap(errs.ErrUnauthenticated, "authentication required to "+what, nil)
	case !p.SiteAdministrator():
		return errs.PermissionDeniedf("only a site administrator's sign-in token may %s", what)
	}
	return nil
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
