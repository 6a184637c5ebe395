// Package access is the contract between packyard's kernel and its
// identity and policy implementation (package auth): who is calling
// (Authenticator turns a request into a Principal), what they may do
// (Authorizer, checked on every route), the Principal carried in the request
// context, and how a refusal is rendered to HTTP and Connect clients.
//
// The server and the ecosystems depend on this package only; auth
// implements it.
package access

import (
	"context"
	"errors"
	"net/http"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/metadata"
)

// ErrNoCredentials is returned by an Authenticator that found no credentials
// of its kind in the request; the chain then asks the next one.
var ErrNoCredentials = errors.New("auth: no credentials")

// Action is what a caller wants to do to an organization's resources.
type Action string

const (
	ActionRead  Action = "read"  // download, resolve, list
	ActionWrite Action = "write" // publish, push, sync
	ActionAdmin Action = "admin" // delete, manage sources, settings
)

// Role returns the least role that allows the action.
func (a Action) Role() metadata.Role { return metadata.Role(a) }

// Resource is what an action is done to: an organization, optionally named
// more precisely for logs and messages.
type Resource struct {
	Org  string // organization name
	Kind string // e.g. "composer package", "buf module"
	Name string // e.g. "acme/foo"
}

// Principal is an authenticated caller.
type Principal struct {
	UserID    string
	UserName  string
	SiteAdmin bool          // a site administrator (packyard user create --admin)
	TokenID   string        // the token used, if any
	OrgID     string        // the organization the token is limited to ("" = any the user belongs to)
	Scope     metadata.Role // the token's scope
	Method    string        // "token", "oidc", …
}

// Authenticator finds the caller of a request.
type Authenticator interface {
	// Authenticate returns the principal, ErrNoCredentials when the request
	// carries none of this method's credentials, or an error wrapping
	// errs.ErrUnauthenticated when they are invalid, expired or revoked.
	Authenticate(ctx context.Context, r *http.Request) (*Principal, error)
}

// Authorizer decides whether a principal (nil for anonymous) may act.
type Authorizer interface {
	// Authorize returns nil, or an error wrapping errs.ErrUnauthenticated
	// (anonymous and not allowed), errs.ErrNotFound (the caller may not even
	// know the organization exists) or errs.ErrPermissionDenied.
	Authorize(ctx context.Context, p *Principal, a Action, res Resource) error
}

// Middleware authenticates every request before any handler decodes its
// body, and puts the caller's Principal in the request context (see
// WithPrincipal). Requests without credentials pass on anonymously; invalid
// credentials are refused with 401. auth.NewMiddleware builds packyard's.
type Middleware func(next http.Handler) http.Handler

type principalKey struct{}

// WithPrincipal returns a context carrying p; it also names p as the actor
// of the audit events recorded with this context.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	if p != nil {
		ctx = audit.WithActor(ctx, p.Actor())
	}
	return context.WithValue(ctx, principalKey{}, p)
}

// Actor is the principal as the audit log names it.
func (p *Principal) Actor() audit.Actor {
	return audit.Actor{UserID: p.UserID, User: p.UserName, TokenID: p.TokenID, Method: p.Method}
}

// PrincipalFrom returns the request's principal, if any.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// SiteAdministrator reports whether p acts as a site administrator: a site
// administrator's token that is not limited to one organization, with admin
// scope (a sign-in token). Site-wide reads and changes (users, every
// organization's audit log) need one.
func (p *Principal) SiteAdministrator() bool {
	return p != nil && p.SiteAdmin && p.OrgID == "" && p.Scope == metadata.RoleAdmin
}
