package web

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/access"
	kit "github.com/packyard/packyard/pkg/web"
)

//go:embed templates static
var files embed.FS

// Module contributes the Composer pages to the web UI.
var Module = fx.Module("composer-web", fx.Provide(kit.AsPages(New)))

// Pages are the Composer ecosystem's pages (kit.Pages, kit.Counter and
// kit.Lister).
type Pages struct {
	svc   *composer.Service
	proxy *composer.Proxy
	t     *kit.Templates
	md    *Markdown
	site  *kit.Site
}

var (
	_ kit.Pages   = (*Pages)(nil)
	_ kit.Counter = (*Pages)(nil)
	_ kit.Lister  = (*Pages)(nil)
)

// New returns the Composer pages over the service.
func New(svc *composer.Service) (*Pages, error) {
	t, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	return &Pages{svc: svc, proxy: svc.Proxy(), t: t, md: NewMarkdown()}, nil
}

// Name implements kit.Pages.
func (p *Pages) Name() string { return "composer" }

// RegisterPages implements kit.Pages.
func (p *Pages) RegisterPages(r *kit.Router) error {
	p.site = r.Site()
	r.GET("/:org/packages/:vendor/:name", p.packagePage)
	r.GET("/:org/-/composer/sources", p.sourcesPage)
	r.POST("/:org/-/composer/sources", p.addSource)
	r.GET("/:org/-/composer/sources/:id/status", p.sourceStatus)
	r.POST("/:org/-/composer/sources/:id/sync", p.syncSource)
	r.POST("/:org/-/composer/sources/:id/remove", p.removeSource)
	r.GET("/:org/-/composer/sources.js", p.script)
	r.GET("/:org/-/composer/upstreams", p.upstreamsPage)
	r.POST("/:org/-/composer/upstreams", p.addUpstream)
	r.POST("/:org/-/composer/upstreams/:id/remove", p.removeUpstream)
	r.GET("/:org/-/composer/advisories", p.advisoriesPage)
	r.POST("/:org/-/composer/advisories", p.addAdvisory)
	r.POST("/:org/-/composer/advisories/:id/remove", p.removeAdvisory)
	r.GET("/:org/-/composer/upload", p.uploadPage)
	r.POST("/:org/-/composer/upload", p.upload, kit.Multipart(p.svc.MaxUploadSize()+64<<10))
	return nil
}

// Noun implements kit.Counter and kit.Lister.
func (p *Pages) Noun() string { return "packages" }

// Count implements kit.Counter.
func (p *Pages) Count(ctx context.Context, orgs []string) (map[string]int, error) {
	out := make(map[string]int, len(orgs))
	for _, org := range orgs {
		n, err := p.svc.CountPackages(ctx, org)
		if err != nil {
			return nil, err
		}
		out[org] = n
	}
	return out, nil
}

// OrgLinks implements kit.Linker: the Composer pages of the organization
// the viewer may open (git sources and advisories to readers, the upload
// form to writers, upstreams to administrators).
func (p *Pages) OrgLinks(ctx context.Context, v *kit.Viewer, org string) []kit.Link {
	base := "/" + org + "/-/composer/"
	links := []kit.Link{{Label: "Git sources", URL: base + "sources"}, {Label: "Advisories", URL: base + "advisories"}}
	if v.Can(ctx, access.ActionWrite, org) {
		links = append(links, kit.Link{Label: "Upload", URL: base + "upload"})
	}
	if v.Can(ctx, access.ActionAdmin, org) {
		links = append(links, kit.Link{Label: "Upstreams", URL: base + "upstreams"})
	}
	return links
}

// List implements kit.Lister: the organization's packages.
func (p *Pages) List(ctx context.Context, v *kit.Viewer, org string, q kit.ListQuery) (kit.List, error) {
	page, err := p.svc.SearchPackages(ctx, org, q.Search, q.Offset, q.Limit)
	if err != nil {
		return kit.List{}, err
	}
	out := kit.List{Total: page.Total, Items: make([]kit.Item, 0, len(page.Packages)),
		Empty: "No Composer packages yet: upload a zip (" + "/" + org + "/-/composer/upload), or add a git source (/" + org + "/-/composer/sources)."}
	for _, s := range page.Packages {
		out.Items = append(out.Items, kit.Item{Name: s.Name, URL: packageURL(org, s.Name), Description: s.Description,
			Detail: fmt.Sprintf("%s · %s", plural(s.Versions, "version", "versions"), plural64(s.Downloads, "install", "installs"))})
	}
	return out, nil
}

func packageURL(org, name string) string { return "/" + org + "/packages/" + name }

func plural(n int, one, many string) string { return plural64(int64(n), one, many) }

func plural64(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// repository is the access resource of an organization's Composer repository.
func repository(org string) access.Resource {
	return access.Resource{Org: org, Kind: "composer repository"}
}

// authorize checks the viewer's right to act on the page's organization
// and returns the organization.
func authorize(c echo.Context, a access.Action) (string, error) {
	org := c.Param("org")
	return org, kit.ViewerOf(c).Authorize(c.Request().Context(), a, repository(org))
}

// rights are the controls a page shows; its POST handlers still authorize.
type rights struct{ Write, Admin bool }

func rightsOf(c echo.Context, org string) rights {
	v, ctx := kit.ViewerOf(c), c.Request().Context()
	return rights{Write: v.Can(ctx, access.ActionWrite, org), Admin: v.Can(ctx, access.ActionAdmin, org)}
}

// nav is the Composer pages' tabs for an organization.
type nav struct {
	Org, Here string
	Rights    rights
}

func crumbs(org string, more ...kit.Crumb) []kit.Crumb {
	return append([]kit.Crumb{{Name: org, URL: "/" + org}}, more...)
}

// script is the optional progress script of the sources page.
func (p *Pages) script(c echo.Context) error {
	b, err := files.ReadFile("static/sources.js")
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "text/javascript; charset=utf-8", b)
}

// orgBase is the server's external base URL without a trailing slash.
func (p *Pages) orgBase(c echo.Context) string {
	return strings.TrimSuffix(p.site.BaseURL(c.Request()), "/")
}

// parseTemplates parses every page with the partials of partials.tmpl
// (the kit parses each page file on its own).
func parseTemplates() (*kit.Templates, error) {
	partials, err := files.ReadFile("templates/partials.tmpl")
	if err != nil {
		return nil, err
	}
	pages, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	joined := fstest.MapFS{}
	for _, name := range pages {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		joined[name] = &fstest.MapFile{Data: append(append(slices.Clip(partials), '\n'), b...)}
	}
	return kit.ParseTemplates(joined, "templates/*.html")
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
