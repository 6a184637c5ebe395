package pages

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/auth"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/web"
)

type signInData struct {
	Next string
	OIDC string // the OIDC sign-in URL, "" when not configured
}

func (p *Pages) signInForm(c echo.Context) error {
	next := web.LocalPath(c.QueryParam("next"))
	return p.renderSignIn(c, http.StatusOK, next, web.NewForm())
}

func (p *Pages) renderSignIn(c echo.Context, status int, next string, f *web.Form) error {
	return p.site.Render(c, status, p.t, "signin.html", web.Page{Title: "Sign in", Crumbs: []web.Crumb{{Name: "Sign in"}},
		Form: f, Data: signInData{Next: next, OIDC: p.site.OIDCSignInURL(next)}})
}

// signIn checks a packyard token as the API would and starts a session
// bound to it. Failures are counted by the same rate limits as the API's
// and recorded in the audit log (never the token itself).
func (p *Pages) signIn(c echo.Context) error {
	f, err := web.ParseForm(c, "token", "next")
	if err != nil {
		return err
	}
	next := web.LocalPath(f.Value("next"))
	ctx := c.Request().Context()
	text := f.Value("token")
	f.Values.Del("token") // never rendered back
	if text == "" {
		f.SetError("token", "Paste a packyard token (pky_…).")
		return p.renderSignIn(c, http.StatusBadRequest, next, f)
	}
	pr, err := p.tokens.AuthenticateToken(ctx, text)
	if errors.Is(err, errs.ErrUnauthenticated) {
		if lerr := p.failed(c, text, err); lerr != nil {
			return lerr
		}
		f.SetError("token", "This token is invalid, expired or revoked.")
		return p.renderSignIn(c, http.StatusUnauthorized, next, f)
	}
	if err != nil {
		return err
	}
	tok, err := p.store.GetToken(ctx, pr.TokenID)
	if err != nil {
		return err
	}
	if err := p.site.StartSession(c, pr, tok.ExpiresAt); err != nil {
		return err
	}
	audit.Record(ctx, p.audit, p.log, audit.Event{Action: audit.ActionSignIn, Resource: "token/" + pr.TokenID,
		Actor:   audit.Actor{UserID: pr.UserID, User: pr.UserName, TokenID: pr.TokenID, Method: "web"},
		Details: map[string]string{"via": "web"}})
	return web.Redirect(c, next)
}

// failed counts a failed sign-in against the API's limits (a refusal past
// a limit is returned: 429) and records it.
func (p *Pages) failed(c echo.Context, text string, cause error) error {
	id, _ := auth.ParseTokenID(text)
	err := auth.FailedSignIn(c.Request(), p.log, auth.MiddlewareOptions{Audit: p.audit, Guard: p.guard}, id, "web", cause)
	if errors.Is(err, errs.ErrResourceExhausted) {
		return err
	}
	return nil
}

func (p *Pages) signOut(c echo.Context) error {
	if _, err := web.ParseForm(c); err != nil {
		return err
	}
	if err := p.site.EndSession(c); err != nil {
		return err
	}
	return web.Redirect(c, "/")
}
