package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	kit "github.com/packyard/packyard/pkg/web"
)

// The upstreams page (organization admins, as the API's list) and the
// advisories page (readers; admins add and remove), over the Proxy's
// methods.

type upstreamsView struct {
	Nav       nav
	Upstreams []composer.Upstream
}

func (p *Pages) upstreamsPage(c echo.Context) error {
	org, err := authorize(c, access.ActionAdmin)
	if err != nil {
		return err
	}
	return p.renderUpstreams(c, org, http.StatusOK, kit.NewForm(), "")
}

func (p *Pages) renderUpstreams(c echo.Context, org string, status int, f *kit.Form, notice string) error {
	ups, err := p.proxy.Upstreams(c.Request().Context(), org)
	if err != nil {
		return err
	}
	return p.site.Render(c, status, p.t, "upstreams.html", kit.Page{Title: "Upstreams · " + org,
		Crumbs: crumbs(org, kit.Crumb{Name: "Upstreams"}), Form: f, Notice: notice,
		Data: upstreamsView{Nav: nav{Org: org, Here: "upstreams", Rights: rightsOf(c, org)}, Upstreams: ups}})
}

func (p *Pages) addUpstream(c echo.Context) error {
	org, err := authorize(c, access.ActionAdmin)
	if err != nil {
		return err
	}
	f, err := kit.ParseForm(c, "url", "public", "username", "password", "priority")
	if err != nil {
		return err
	}
	in := composer.UpstreamInput{URL: f.Value("url"), Public: f.Value("public") == "on", Username: f.Value("username"), Password: f.Value("password")}
	f.Values.Del("password")
	if v := f.Value("priority"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.SetError("priority", "Use a whole number (lower is asked first).")
		}
		in.Priority = &n
	}
	if f.Valid() {
		_, err := p.proxy.AddUpstream(c.Request().Context(), org, in)
		if err == nil {
			return p.renderUpstreams(c, org, http.StatusCreated, kit.NewForm(), "Upstream added: it is being checked.")
		}
		f.SetError("url", errs.PublicMessage(err))
	}
	return p.renderUpstreams(c, org, http.StatusBadRequest, f, "")
}

func (p *Pages) removeUpstream(c echo.Context) error {
	org, err := authorize(c, access.ActionAdmin)
	if err != nil {
		return err
	}
	if _, err := kit.ParseForm(c); err != nil {
		return err
	}
	if err := p.proxy.RemoveUpstream(c.Request().Context(), org, c.Param("id")); err != nil {
		return err
	}
	return kit.Redirect(c, "/"+org+"/-/composer/upstreams")
}

type advisoriesView struct {
	Nav        nav
	Advisories []composer.Advisory
}

func (p *Pages) advisoriesPage(c echo.Context) error {
	org, err := authorize(c, access.ActionRead)
	if err != nil {
		return err
	}
	return p.renderAdvisories(c, org, http.StatusOK, kit.NewForm("severity", "medium"), "")
}

func (p *Pages) renderAdvisories(c echo.Context, org string, status int, f *kit.Form, notice string) error {
	advs, err := p.proxy.Advisories(c.Request().Context(), org)
	if err != nil {
		return err
	}
	return p.site.Render(c, status, p.t, "advisories.html", kit.Page{Title: "Advisories · " + org,
		Crumbs: crumbs(org, kit.Crumb{Name: "Advisories"}), Form: f, Notice: notice,
		Data: advisoriesView{Nav: nav{Org: org, Here: "advisories", Rights: rightsOf(c, org)}, Advisories: advs}})
}

func (p *Pages) addAdvisory(c echo.Context) error {
	org, err := authorize(c, access.ActionAdmin)
	if err != nil {
		return err
	}
	f, err := kit.ParseForm(c, "package", "versions", "title", "cve", "link", "severity")
	if err != nil {
		return err
	}
	if f.Required("package", "versions", "title") {
		in := composer.AdvisoryInput{Package: f.Value("package"), Versions: f.Value("versions"), Title: f.Value("title"),
			CVE: f.Value("cve"), Link: f.Value("link"), Severity: f.Value("severity")}
		_, err := p.proxy.AddAdvisory(c.Request().Context(), org, in)
		if err == nil {
			return p.renderAdvisories(c, org, http.StatusCreated, kit.NewForm("severity", "medium"), "Advisory published.")
		}
		f.SetError(advisoryField(err), errs.PublicMessage(err))
	}
	return p.renderAdvisories(c, org, http.StatusBadRequest, f, "")
}

// advisoryField is the field a refused advisory's message belongs next to.
func advisoryField(err error) string {
	msg := errs.PublicMessage(err)
	for _, f := range []string{"constraint", "version", "package", "title", "CVE", "cve", "link", "severity"} {
		if containsAny(msg, f) {
			switch f {
			case "constraint", "version":
				return "versions"
			case "CVE":
				return "cve"
			}
			return f
		}
	}
	return "package"
}

func (p *Pages) removeAdvisory(c echo.Context) error {
	org, err := authorize(c, access.ActionAdmin)
	if err != nil {
		return err
	}
	if _, err := kit.ParseForm(c); err != nil {
		return err
	}
	if err := p.proxy.RemoveAdvisory(c.Request().Context(), org, c.Param("id")); err != nil {
		return err
	}
	return kit.Redirect(c, "/"+org+"/-/composer/advisories")
}
