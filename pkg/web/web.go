// Package web is packyard's UI kit: server-rendered html/template pages
// embedded in the binary, in one layout with one stylesheet (and a small,
// optional script: every page reads correctly with JavaScript off), served
// on the one listener next to the protocols.
//
// It holds what every page needs and no page of its own: browser sessions
// (stored server-side, only a hash of their id at rest, bound to the token
// that started them and re-checked on every request), CSRF protection of
// every form, HTML error pages for browser routes (the API and protocol
// routes keep their JSON errors), forms that re-render with per-field
// errors, pagination, and the Viewer, which asks the same access.Authorizer
// as the API.
//
// Pages come from Pages values in the fx group "web.pages" (AsPages): the
// kernel's own (home, organizations, tokens, audit; package auth/pages) and
// the ecosystems'. An ecosystem adds its routes in RegisterPages and may
// contribute to the home page (Counter) and the organization page (Lister)
// without knowing any other ecosystem.
package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/server"
	"github.com/packyard/packyard/pkg/sqldb"
)

// SessionTTL is the longest a browser session lasts; it never outlives the
// token it was started from.
const SessionTTL = 12 * time.Hour

// Name is the product name in the header of every page.
const Name = "packyard"

// TokenChecker turns the token a session was started from into the
// principal it acts as, checking it as the API would (revoked, expired,
// user deleted: an error wrapping errs.ErrUnauthenticated).
// auth.TokenAuthenticator implements it.
type TokenChecker interface {
	AuthenticateTokenID(ctx context.Context, id string) (*access.Principal, error)
}

// Params are the Site's dependencies.
type Params struct {
	fx.In
	Authz  access.Authorizer
	DB     *sqldb.DB
	Tokens TokenChecker
	Base   server.BaseURL
	Log    *zap.Logger
	Pages  []Pages    `group:"web.pages"`
	OIDC   OIDCSignIn `optional:"true"`
}

// OIDCSignIn tells the sign-in page whether OIDC sign-in is configured, and
// where it starts.
type OIDCSignIn interface {
	// SignInURL is the URL that starts an OIDC sign-in ending in a web
	// session and then at next (a local path), or "" when OIDC is off.
	SignInURL(next string) string
}

// Site is the web UI: the kit's state shared by every page.
type Site struct {
	authz    access.Authorizer
	sessions *Sessions
	tokens   TokenChecker
	base     server.BaseURL
	log      *zap.Logger
	oidc     OIDCSignIn
	pages    []Pages
	kit      *Templates
	routes   map[string]string // "GET /path" -> Pages name
	now      func() time.Time
}

// New builds the site from its pages, sorted by name (fx delivers groups in
// random order).
func New(p Params) (*Site, error) {
	kit, err := ParseTemplates(kitTemplates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := append([]Pages(nil), p.Pages...)
	sort.Slice(pages, func(i, j int) bool { return pages[i].Name() < pages[j].Name() })
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Site{authz: p.Authz, sessions: NewSessions(p.DB), tokens: p.Tokens, base: p.Base, log: log.Named("web"),
		oidc: p.OIDC, pages: pages, kit: kit, routes: map[string]string{},
		now: func() time.Time { return time.Now().UTC() }}, nil
}

// AsEcosystem annotates New's Site for the "ecosystems" group: the server
// registers the site's routes like an ecosystem's.
func AsEcosystem(s *Site) ecosystem.Ecosystem { return s }

// Module provides the Site and registers it on the server.
var Module = fx.Module("web",
	fx.Provide(New, ecosystem.As(AsEcosystem)),
)

// Pages returns every contributor, sorted by name (for home and
// organization pages that gather Counter and Lister contributions).
func (s *Site) Pages() []Pages { return s.pages }

// Authorizer is the one authorizer the API uses too.
func (s *Site) Authorizer() access.Authorizer { return s.authz }

// BaseURL is the external URL of this server for r (for snippets that name
// the host).
func (s *Site) BaseURL(r *http.Request) string { return s.base.For(r) }

// OIDCSignInURL is where an OIDC sign-in that ends at next starts, or "".
func (s *Site) OIDCSignInURL(next string) string {
	if s.oidc == nil {
		return ""
	}
	return s.oidc.SignInURL(next)
}

// Name implements ecosystem.Ecosystem: the web UI registers last among
// "buf", "composer" and "web", after every protocol route (Echo prefers
// static path segments, so /composer/... is never taken by /{org}/...).
func (s *Site) Name() string { return "web" }

// Register implements ecosystem.Ecosystem: the static files, then every
// Pages contributor's routes.
func (s *Site) Register(r ecosystem.Router) error {
	g := r.Group("")
	g.GET(StaticPrefix+"*", echo.WrapHandler(http.StripPrefix(StaticPrefix, staticHandler())))
	g.HEAD(StaticPrefix+"*", echo.WrapHandler(http.StripPrefix(StaticPrefix, staticHandler())))
	for _, p := range s.pages {
		rt := &Router{site: s, g: g, owner: p.Name()}
		if err := p.RegisterPages(rt); err != nil {
			return fmt.Errorf("web: pages of %q: %w", p.Name(), err)
		}
		if rt.err != nil {
			return rt.err
		}
	}
	// Unknown account pages get the HTML 404, not the API's JSON.
	rt := &Router{site: s, g: g, owner: "web"}
	rt.GET("/-/*", func(c echo.Context) error { return s.NotFound(c) })
	return nil
}
