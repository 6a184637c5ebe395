package web

import (
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	kit "github.com/packyard/packyard/pkg/web"
)

// packageView is the data of a package's page.
type packageView struct {
	Nav          nav
	Package      composer.PackageDetail
	Shown        composer.VersionDetail // the version whose details and README are shown (?version=)
	Stable, Dev  versionTable
	Links        []linkGroup // of the shown version
	Readme       template.HTML
	Require      string
	Config       string
	Snippet      string
	Repository   string
	DayChart     template.HTML
	VersionChart template.HTML
	Installs     int64 // over every version
	Affected     int   // versions an advisory affects
}

// packagePage is /{org}/packages/{vendor}/{name}[?version=V].
func (p *Pages) packagePage(c echo.Context) error {
	org := c.Param("org")
	name := strings.ToLower(c.Param("vendor") + "/" + c.Param("name"))
	ctx := c.Request().Context()
	if err := kit.ViewerOf(c).Authorize(ctx, access.ActionRead, access.Resource{Org: org, Kind: "composer package", Name: name}); err != nil {
		return err
	}
	if format.ValidatePackageName(name) != nil {
		return errs.NotFoundf("package %s not found", name)
	}
	d, err := p.svc.Package(ctx, org, name)
	if err != nil {
		return err
	}
	shown, ok := pick(d.Versions, c.QueryParam("version"))
	if !ok {
		return errs.NotFoundf("%s has no version %q", name, c.QueryParam("version"))
	}
	md, err := p.svc.Readme(ctx, shown)
	if err != nil {
		return err
	}
	base := p.orgBase(c)
	v := packageView{Nav: nav{Org: org, Here: "packages", Rights: rightsOf(c, org)}, Package: d, Shown: shown,
		Stable: versionTable{URL: packageURL(org, d.Name), Shown: shown.Version, Versions: d.Stable()},
		Dev:    versionTable{URL: packageURL(org, d.Name), Shown: shown.Version, Versions: d.Dev()},
		Links:  linkGroups(shown), Require: RequireCommand(d.Name), Config: ConfigCommand(base, org),
		Snippet: RepositorySnippet(base, org), Repository: RepositoryURL(base, org),
		DayChart: DayChart(d.Days), VersionChart: VersionChart(d.Versions)}
	if len(md) > 0 {
		v.Readme = p.md.Render(md)
	}
	for _, x := range d.Versions {
		v.Installs += x.Downloads
		if len(x.Advisories) > 0 {
			v.Affected++
		}
	}
	return p.site.Render(c, http.StatusOK, p.t, "package.html", kit.Page{Title: d.Name,
		Crumbs: crumbs(org, kit.Crumb{Name: d.Name}), Data: v})
}

// pick is the version asked for (pretty, else normalized: the first of
// that normalized version), or the newest stable one (else the first)
// when none is asked for.
func pick(vs []composer.VersionDetail, asked string) (composer.VersionDetail, bool) {
	if asked == "" {
		if len(vs) == 0 {
			return composer.VersionDetail{}, true
		}
		return vs[0], true // stable versions come first, newest first
	}
	if i := slices.IndexFunc(vs, func(v composer.VersionDetail) bool { return v.Version == asked }); i >= 0 {
		return vs[i], true
	}
	if i := slices.IndexFunc(vs, func(v composer.VersionDetail) bool { return v.Normalized == asked }); i >= 0 {
		return vs[i], true
	}
	return composer.VersionDetail{}, false
}

// versionTable is a table of versions linking to each one's details.
type versionTable struct {
	URL      string // the package page
	Shown    string // the version shown (pretty: unique in a package)
	Versions []composer.VersionDetail
}

// linkGroup is one kind of link of a version (require, conflict…).
type linkGroup struct {
	Kind  string
	Links []composer.Link
}

func linkGroups(v composer.VersionDetail) []linkGroup {
	all := []linkGroup{{"require", v.Require}, {"require-dev", v.RequireDev}, {"suggest", v.Suggest},
		{"provide", v.Provide}, {"conflict", v.Conflict}, {"replace", v.Replace}}
	out := all[:0]
	for _, g := range all {
		if len(g.Links) > 0 {
			out = append(out, g)
		}
	}
	return out
}
