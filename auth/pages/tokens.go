package pages

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
)

type tokensData struct {
	Org     metadata.Org
	Tokens  []auth.TokenInfo
	Created *createdToken // the token just created: its secret is shown this once
	Current string        // the id of the token the viewer uses
}

type createdToken struct {
	Secret string
	Info   metadata.Token
	Host   string
	Base   string
}

func (p *Pages) orgTokens(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization tokens")
	if err != nil {
		return err
	}
	return p.renderOrgTokens(c, http.StatusOK, org, web.NewForm("scope", "read"), nil, noticeText(c.QueryParam("notice")))
}

func (p *Pages) renderOrgTokens(c echo.Context, status int, org metadata.Org, f *web.Form, created *createdToken, notice string) error {
	ts, err := p.admin.ListTokens(c.Request().Context(), org.Name)
	if err != nil {
		return err
	}
	v := web.ViewerOf(c)
	return p.site.Render(c, status, p.t, "orgtokens.html", web.Page{Title: org.Name + " tokens",
		Crumbs: orgCrumbs(org.Name, "Tokens"), Form: f, Notice: notice,
		Data: tokensData{Org: org, Tokens: ts, Created: created, Current: v.Principal.TokenID}})
}

// createToken mints a token for the organization's bot user
// (auth.Service.CreateToken, as `packyard token create --org`). The
// answer shows its secret once; the tokens page never shows it again.
func (p *Pages) createToken(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization tokens")
	if err != nil {
		return err
	}
	f, err := web.ParseForm(c, "name", "scope", "expires")
	if err != nil {
		return err
	}
	req := auth.CreateTokenRequest{Org: org.Name, Name: f.Value("name"), Scope: metadata.Role(f.Value("scope"))}
	if _, err := metadata.ParseRole(f.Value("scope")); err != nil {
		f.SetError("scope", "Choose read, write or admin.")
	}
	if len(req.Name) > 100 {
		f.SetError("name", "Use at most 100 characters.")
	}
	if e := f.Value("expires"); e != "" {
		d, err := config.ParseDuration(e)
		if err != nil || d <= 0 {
			f.SetError("expires", "Use a duration such as 12h, 30d or 90m, or leave empty for no expiry.")
		}
		req.Expires = d
	}
	if !f.Valid() {
		return p.renderOrgTokens(c, http.StatusBadRequest, org, f, nil, "")
	}
	secret, tok, err := p.admin.CreateToken(c.Request().Context(), req)
	if err != nil {
		if fieldError(f, "scope", err) {
			return p.renderOrgTokens(c, http.StatusBadRequest, org, f, nil, "")
		}
		return err
	}
	created := &createdToken{Secret: secret, Info: tok, Host: p.host(c.Request()), Base: p.site.BaseURL(c.Request())}
	return p.renderOrgTokens(c, http.StatusOK, org, web.NewForm("scope", "read"), created, "")
}

// revokeOrgToken revokes one of the organization's tokens.
func (p *Pages) revokeOrgToken(c echo.Context) error {
	org, err := p.readOrg(c, access.ActionAdmin, "organization tokens")
	if err != nil {
		return err
	}
	f, err := web.ParseForm(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := p.store.GetToken(ctx, f.Value("id"))
	if err == nil && t.OrgID != org.ID {
		err = errs.NotFoundf("organization %q has no token %q", org.Name, f.Value("id"))
	}
	if err != nil {
		return err
	}
	if err := p.revoke(c, t.ID); err != nil {
		return err
	}
	return web.Redirect(c, "/"+org.Name+"/-/tokens?notice=revoked")
}

// revoke revokes a token (auth.Service.RevokeToken) and ends the sessions
// started from it (they would end on their next request anyway).
func (p *Pages) revoke(c echo.Context, id string) error {
	ctx := c.Request().Context()
	if err := p.admin.RevokeToken(ctx, id); err != nil {
		return err
	}
	return p.site.Sessions().DeleteForToken(ctx, id)
}

type myTokensData struct {
	Tokens  []auth.TokenInfo
	Current string
}

// myTokens lists the signed-in user's tokens, of every organization.
func (p *Pages) myTokens(c echo.Context) error {
	v := web.ViewerOf(c)
	if !v.SignedIn() {
		return errs.Wrap(errs.ErrUnauthenticated, "sign in to see your tokens", nil)
	}
	ts, err := p.admin.ListUserTokens(c.Request().Context(), v.Principal.UserID)
	if err != nil {
		return err
	}
	return p.site.Render(c, http.StatusOK, p.t, "mytokens.html", web.Page{Title: "Your tokens",
		Crumbs: []web.Crumb{{Name: "Your tokens"}}, Notice: noticeText(c.QueryParam("notice")),
		Data: myTokensData{Tokens: ts, Current: v.Principal.TokenID}})
}

// revokeMyToken revokes one of the signed-in user's tokens: the one in use,
// or one whose scope the token in use covers (a read token cannot revoke
// an admin token).
func (p *Pages) revokeMyToken(c echo.Context) error {
	v := web.ViewerOf(c)
	if !v.SignedIn() {
		return errs.Wrap(errs.ErrUnauthenticated, "sign in to revoke your tokens", nil)
	}
	f, err := web.ParseForm(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := p.store.GetToken(ctx, f.Value("id"))
	if err == nil && t.UserID != v.Principal.UserID {
		err = errs.NotFoundf("you have no token %q", f.Value("id"))
	}
	if err != nil {
		return err
	}
	if t.ID != v.Principal.TokenID && !v.Principal.Scope.Allows(t.Scope) {
		return errs.PermissionDeniedf("the token you signed in with has %s scope; revoking a %s token needs at least that", v.Principal.Scope, t.Scope)
	}
	if err := p.revoke(c, t.ID); err != nil {
		return err
	}
	if t.ID == v.Principal.TokenID {
		return web.Redirect(c, "/")
	}
	return web.Redirect(c, "/-/tokens?notice=revoked")
}
