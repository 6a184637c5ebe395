package pages

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
)

type membersData struct {
	Org     metadata.Org
	Members []metadata.Member
}

func (p *Pages) members(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization members")
	if err != nil {
		return err
	}
	return p.renderMembers(c, http.StatusOK, org, web.NewForm("role", "read"), noticeText(c.QueryParam("notice")))
}

func (p *Pages) renderMembers(c echo.Context, status int, org metadata.Org, f *web.Form, notice string) error {
	ms, err := p.store.ListMembers(c.Request().Context(), org.ID)
	if err != nil {
		return err
	}
	return p.site.Render(c, status, p.t, "members.html", web.Page{Title: org.Name + " members",
		Crumbs: orgCrumbs(org.Name, "Members"), Data: membersData{Org: org, Members: ms}, Form: f, Notice: notice})
}

// setMember gives a user a role (auth.Service.AddMember, as `packyard org
// add-member`).
func (p *Pages) setMember(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization members")
	if err != nil {
		return err
	}
	f, err := web.ParseForm(c, "user", "role")
	if err != nil {
		return err
	}
	if f.Required("user", "role") {
		if _, err := metadata.ParseRole(f.Value("role")); err != nil {
			f.SetError("role", "Choose read, write or admin.")
		} else if err := p.admin.AddMember(c.Request().Context(), org.Name, f.Value("user"), metadata.Role(f.Value("role"))); err != nil {
			if !fieldError(f, "user", err) {
				return err
			}
		}
	}
	if !f.Valid() {
		return p.renderMembers(c, http.StatusBadRequest, org, f, "")
	}
	return web.Redirect(c, "/"+org.Name+"/-/members?notice=member")
}

// removeMember takes a user out (auth.Service.RemoveMember).
func (p *Pages) removeMember(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization members")
	if err != nil {
		return err
	}
	f, err := web.ParseForm(c, "user")
	if err != nil {
		return err
	}
	if err := p.admin.RemoveMember(c.Request().Context(), org.Name, f.Value("user")); err != nil {
		return err
	}
	return web.Redirect(c, "/"+org.Name+"/-/members?notice=removed")
}
