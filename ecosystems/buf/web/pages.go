package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/packyard/packyard/ecosystems/buf"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/web"
)

//go:embed templates/*.html templates/head.tmpl
var templates embed.FS

// Module contributes the buf pages to the web UI.
var Module = fx.Module("buf.web", fx.Provide(web.AsPages(New)))

// Pages are the buf registry's pages.
type Pages struct {
	svc   *buf.Service
	t     *web.Templates
	headT *template.Template // the heading and tabs of every page of a module
	hl    *highlighter
	site  *web.Site
}

var (
	_ web.Pages   = (*Pages)(nil)
	_ web.Counter = (*Pages)(nil)
	_ web.Lister  = (*Pages)(nil)
)

// New returns the buf pages over svc.
func New(svc *buf.Service) (*Pages, error) {
	t, err := web.ParseTemplates(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	headT, err := template.ParseFS(templates, "templates/head.tmpl")
	if err != nil {
		return nil, err
	}
	hl, err := newHighlighter()
	if err != nil {
		return nil, err
	}
	return &Pages{svc: svc, t: t, headT: headT, hl: hl}, nil
}

// Name is "buf".
func (p *Pages) Name() string { return "buf" }

// RegisterPages adds a module's pages under /{org}/modules/{module}.
func (p *Pages) RegisterPages(r *web.Router) error {
	p.site = r.Site()
	r.GET("/:org/modules/:module", p.modulePage)
	r.GET("/:org/modules/:module/commits", p.commitsPage)
	r.GET("/:org/modules/:module/files", p.filesPage)
	r.GET("/:org/modules/:module/files/*", p.filesPage)
	r.GET("/:org/modules/:module/docs", p.docsPage)
	return nil
}

// Noun names the modules on the home and organization pages.
func (p *Pages) Noun() string { return "modules" }

// Count returns how many modules of each organization the caller may read.
func (p *Pages) Count(ctx context.Context, orgs []string) (map[string]int, error) {
	out := make(map[string]int, len(orgs))
	for _, org := range orgs {
		_, n, err := p.svc.OwnerModules(ctx, org, "", buf.Page{})
		if err != nil {
			return nil, err
		}
		out[org] = n
	}
	return out, nil
}

// List returns a page of the organization's modules the viewer may read.
func (p *Pages) List(ctx context.Context, _ *web.Viewer, org string, q web.ListQuery) (web.List, error) {
	mods, n, err := p.svc.OwnerModules(ctx, org, q.Search, buf.Page{Offset: q.Offset, Limit: q.Limit})
	if err != nil {
		return web.List{}, err
	}
	out := web.List{Total: n, Empty: "No modules yet: name one HOST/" + org + "/NAME in a buf.yaml (HOST is this server's host) " +
		"and push it with buf push --create."}
	for _, m := range mods {
		detail := visibilityName(m.Visibility)
		if m.State == buf.StateDeprecated {
			detail += " · deprecated"
		}
		out.Items = append(out.Items, web.Item{Name: m.Name, URL: moduleURL(m.OwnerName, m.Name, ""),
			Description: m.Description, Detail: detail})
	}
	return out, nil
}

func visibilityName(v int) string {
	if v == buf.VisibilityPublic {
		return "public"
	}
	return "private"
}

// moduleURL is the path of a module's page (sub is "", "/commits",
// "/files", "/docs"...).
func moduleURL(owner, module, sub string) string {
	return "/" + url.PathEscape(owner) + "/modules/" + url.PathEscape(module) + sub
}

// withRef adds ?ref= to a page's path when ref is set.
func withRef(path, ref string) string {
	if ref == "" {
		return path
	}
	return path + "?ref=" + url.QueryEscape(ref)
}

// maxRefLength bounds the ?ref= parameter (a label name has at most 250
// characters, a commit id 32 hex digits).
const maxRefLength = 250

// browse resolves the page's module and ?ref= for the viewer, and makes
// the heading of the page's tab: a module the viewer may not read is the
// kit's sign-in or not-found page.
func (p *Pages) browse(c echo.Context, tab string) (buf.View, moduleHead, error) {
	ref := c.QueryParam("ref")
	if len(ref) > maxRefLength || strings.ContainsAny(ref, "\x00\n\r") {
		return buf.View{}, moduleHead{}, errs.Invalidf("ref must be a label name or a commit id")
	}
	v, err := p.svc.Browse(c.Request().Context(), c.Param("org"), c.Param("module"), ref)
	if err != nil {
		return buf.View{}, moduleHead{}, err
	}
	h, err := p.head(v, ref, tab)
	return v, h, err
}

// tab is one of a module page's tabs.
type tab struct {
	Name    string
	URL     string
	Current bool
}

// moduleHead is what every page of a module shows above its own content.
type moduleHead struct {
	Module  buf.ModuleRecord
	View    buf.View
	Ref     string // the ?ref= the pages keep
	Tabs    []tab
	Public  bool
	Deprec  bool
	Label   string // the label shown, or ""
	ShortID string // the commit's id, shortened
	HTML    template.HTML
}

// FilesURL is the file browser's root at ref.
func (h moduleHead) FilesURL(ref string) string { return fileURL(h.View, ref, "") }

// FileURL is the file browser's page of rel at the page's ref.
func (h moduleHead) FileURL(rel string) string { return fileURL(h.View, h.Ref, rel) }

// head is the heading and tabs of a module's page; current names the tab.
func (p *Pages) head(v buf.View, ref, current string) (moduleHead, error) {
	m := v.Module
	h := moduleHead{Module: m, View: v, Ref: ref, Public: m.Visibility == buf.VisibilityPublic,
		Deprec: m.State == buf.StateDeprecated, Label: v.Label, ShortID: shortID(v.Commit.ID)}
	for _, t := range []struct{ name, sub string }{{"Overview", ""}, {"Files", "/files"}, {"Commits", "/commits"}, {"Docs", "/docs"}} {
		u := moduleURL(m.OwnerName, m.Name, t.sub)
		if t.sub != "/commits" {
			u = withRef(u, ref)
		}
		h.Tabs = append(h.Tabs, tab{Name: t.name, URL: u, Current: t.name == current})
	}
	var b strings.Builder
	if err := p.headT.Execute(&b, h); err != nil {
		return moduleHead{}, fmt.Errorf("buf web: module heading: %w", err)
	}
	h.HTML = template.HTML(b.String()) // #nosec: html/template escaped it
	return h, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// page renders a module page with its breadcrumbs.
func (p *Pages) page(c echo.Context, name, title string, m buf.ModuleRecord, data any) error {
	crumbs := []web.Crumb{{Name: m.OwnerName, URL: "/" + url.PathEscape(m.OwnerName)},
		{Name: m.Name, URL: moduleURL(m.OwnerName, m.Name, "")}}
	if title != "" {
		crumbs = append(crumbs, web.Crumb{Name: title})
	} else {
		crumbs[1].URL = ""
	}
	full := m.FullName()
	if title != "" {
		full += " · " + title
	}
	return p.site.Render(c, http.StatusOK, p.t, name, web.Page{Title: full, Crumbs: crumbs, Data: data})
}
