package pages

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
)

// maxSearch bounds the organization page's search text.
const maxSearch = 200

type tab struct {
	Noun    string
	URL     string
	Current bool
}

type orgData struct {
	Org      metadata.Org
	Tabs     []tab
	List     *web.List
	Noun     string
	Search   string
	Pager    *web.Pager
	Links    []web.Link // the ecosystems' organization-level pages
	CanAdmin bool
	CanWrite bool
	Base     string
	Host     string
}

// readOrg authorizes action on the organization the path names and reads
// it: an anonymous viewer of a private (or missing) organization gets the
// sign-in page, a signed-in one 404 — what the API answers.
func (p *Pages) readOrg(c echo.Context, a access.Action, kind string) (metadata.Org, error) {
	name := c.Param("org")
	ctx := c.Request().Context()
	if err := web.ViewerOf(c).Authorize(ctx, a, access.Resource{Org: name, Kind: kind, Name: name}); err != nil {
		return metadata.Org{}, err
	}
	return p.store.GetOrg(ctx, name)
}

func (p *Pages) org(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionRead, "organization")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v := web.ViewerOf(c)
	search := strings.TrimSpace(c.QueryParam("q"))
	if utf8.RuneCountInString(search) > maxSearch {
		return errs.Invalidf("the search is longer than %d characters", maxSearch)
	}
	pager, err := web.Paginate(c)
	if err != nil {
		return err
	}
	d := orgData{Org: org, Search: search, Pager: pager, CanAdmin: v.Can(ctx, access.ActionAdmin, org.Name),
		CanWrite: v.Can(ctx, access.ActionWrite, org.Name), Base: p.site.BaseURL(c.Request()), Host: p.host(c.Request())}
	for _, pg := range p.site.Pages() {
		if l, ok := pg.(web.Linker); ok {
			d.Links = append(d.Links, l.OrgLinks(ctx, v, org.Name)...)
		}
	}
	listers := p.listers()
	want := c.QueryParam("list")
	if want == "" {
		want = p.firstNonEmpty(c, org.Name, listers)
	}
	var current web.Lister
	for _, l := range listers {
		if want == l.Noun() {
			current = l
		}
		q := url.Values{}
		q.Set("list", l.Noun())
		d.Tabs = append(d.Tabs, tab{Noun: l.Noun(), URL: "/" + org.Name + "?" + q.Encode()})
	}
	if want != "" && current == nil {
		return errs.NotFoundf("organization %q has no list of %s", org.Name, want)
	}
	if current != nil {
		for i := range d.Tabs {
			d.Tabs[i].Current = d.Tabs[i].Noun == current.Noun()
		}
		list, err := current.List(ctx, v, org.Name, web.ListQuery{Search: search, Offset: pager.Offset(), Limit: pager.Limit()})
		if err != nil {
			return err
		}
		pager.Total = list.Total
		d.List, d.Noun = &list, current.Noun()
	}
	return p.site.Render(c, http.StatusOK, p.t, "org.html", web.Page{Title: org.Name, Crumbs: orgCrumbs(org.Name, ""), Data: d})
}

// firstNonEmpty is the tab the organization page opens on: the first
// list that has items (by its Counter), else the first list.
func (p *Pages) firstNonEmpty(c echo.Context, org string, listers []web.Lister) string {
	if len(listers) == 0 {
		return ""
	}
	for _, l := range listers {
		if n, ok := l.(web.Counter); ok {
			if counts, err := n.Count(c.Request().Context(), []string{org}); err == nil && counts[org] > 0 {
				return l.Noun()
			}
		}
	}
	return listers[0].Noun()
}

func (p *Pages) listers() []web.Lister {
	var out []web.Lister
	for _, pg := range p.site.Pages() {
		if l, ok := pg.(web.Lister); ok {
			out = append(out, l)
		}
	}
	return out
}

type settingsData struct {
	Org metadata.Org
}

func (p *Pages) settings(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization settings")
	if err != nil {
		return err
	}
	vis := "private"
	if org.Public {
		vis = "public"
	}
	return p.site.Render(c, http.StatusOK, p.t, "settings.html", web.Page{Title: org.Name + " settings",
		Crumbs: orgCrumbs(org.Name, "Settings"), Data: settingsData{Org: org}, Form: web.NewForm("visibility", vis),
		Notice: noticeText(c.QueryParam("notice"))})
}

// saveSettings makes the organization public or private (auth.Service, as
// `packyard org set-public|set-private`).
func (p *Pages) saveSettings(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization settings")
	if err != nil {
		return err
	}
	f, err := web.ParseForm(c, "visibility")
	if err != nil {
		return err
	}
	vis := f.Value("visibility")
	if vis != "public" && vis != "private" {
		f.SetError("visibility", "Choose public or private.")
		return p.site.Render(c, http.StatusBadRequest, p.t, "settings.html", web.Page{Title: org.Name + " settings",
			Crumbs: orgCrumbs(org.Name, "Settings"), Data: settingsData{Org: org}, Form: f})
	}
	if err := p.admin.SetOrgPublic(c.Request().Context(), org.Name, vis == "public"); err != nil {
		return err
	}
	return web.Redirect(c, "/"+org.Name+"/-/settings?notice=settings")
}
