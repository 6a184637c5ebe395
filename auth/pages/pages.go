// Package pages is the kernel's own web UI, on the kit of package pkg/web:
// the home page, an organization's page (the lists the ecosystems
// contribute), its members, tokens and settings, sign-in and sign-out, the
// signed-in user's tokens and the audit log. Every page asks the same
// authorizer as the API and calls the same services (auth.Service,
// audit.Store); none holds a rule of its own.
package pages

import (
	"embed"
	"net/http"
	"strings"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
)

//go:embed templates/*.html
var templates embed.FS

// Params are the pages' dependencies.
type Params struct {
	fx.In
	Admin  *auth.Service
	Tokens *auth.TokenAuthenticator
	Store  metadata.Store
	Audit  *audit.Store
	Guard  auth.Guard `optional:"true"`
	Log    *zap.Logger
}

// Pages serves the kernel's pages.
type Pages struct {
	admin  *auth.Service
	tokens *auth.TokenAuthenticator
	store  metadata.Store
	audit  *audit.Store
	guard  auth.Guard
	log    *zap.Logger
	t      *web.Templates
	site   *web.Site
}

var _ web.Pages = (*Pages)(nil)

// New parses the templates.
func New(p Params) (*Pages, error) {
	t, err := web.ParseTemplates(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	log := p.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Pages{admin: p.Admin, tokens: p.Tokens, store: p.Store, audit: p.Audit, guard: p.Guard,
		log: log.Named("pages"), t: t}, nil
}

// Module provides the kernel's pages to the web UI.
var Module = fx.Module("pages", fx.Provide(web.AsPages(New)))

// Name implements web.Pages.
func (p *Pages) Name() string { return "kernel" }

// RegisterPages implements web.Pages.
func (p *Pages) RegisterPages(r *web.Router) error {
	p.site = r.Site()
	r.GET("/", p.home)
	r.POST("/-/orgs", p.createOrg)
	r.GET("/-/signin", p.signInForm)
	r.POST("/-/signin", p.signIn)
	r.POST("/-/signout", p.signOut)
	r.GET("/-/tokens", p.myTokens)
	r.POST("/-/tokens/revoke", p.revokeMyToken)
	r.GET("/-/audit", p.auditLog)
	r.GET("/-/audit/export", p.auditExport)
	r.GET("/:org", p.org)
	r.GET("/:org/-/members", p.members)
	r.POST("/:org/-/members", p.setMember)
	r.POST("/:org/-/members/remove", p.removeMember)
	r.GET("/:org/-/tokens", p.orgTokens)
	r.POST("/:org/-/tokens", p.createToken)
	r.POST("/:org/-/tokens/revoke", p.revokeOrgToken)
	r.GET("/:org/-/settings", p.settings)
	r.POST("/:org/-/settings", p.saveSettings)
	return nil
}

// host is this server's host (and port) as clients name it, for snippets.
func (p *Pages) host(r *http.Request) string {
	b := p.site.BaseURL(r)
	b = strings.TrimPrefix(strings.TrimPrefix(b, "https://"), "http://")
	if i := strings.IndexByte(b, '/'); i >= 0 {
		b = b[:i]
	}
	return b
}

func orgCrumbs(org string, here string) []web.Crumb {
	if here == "" {
		return []web.Crumb{{Name: org}}
	}
	return []web.Crumb{{Name: org, URL: "/" + org}, {Name: here}}
}
