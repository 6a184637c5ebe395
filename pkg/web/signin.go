package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
)

// StartSession signs the browser in as p, which must come from a token
// (p.TokenID): the session is stored (only a hash of its id), bound to the
// token and its user, and lasts SessionTTL or until the token expires,
// whichever is first. expires is the token's expiry (zero: none).
func (s *Site) StartSession(c echo.Context, p *access.Principal, expires time.Time) error {
	id, err := s.StartSessionHTTP(c.Response(), c.Request(), p, expires)
	if err != nil {
		return err
	}
	c.Set("web.session", id)
	c.Set("web.csrf", nil)
	return nil
}

// StartSessionHTTP is StartSession for sign-in flows outside the kit's
// routes (the OIDC callback): it stores the session, sets the cookie on w
// and returns the session id.
func (s *Site) StartSessionHTTP(w http.ResponseWriter, r *http.Request, p *access.Principal, expires time.Time) (string, error) {
	if p == nil || p.TokenID == "" {
		return "", errs.Invalidf("a session needs a token")
	}
	id, err := NewSessionID()
	if err != nil {
		return "", err
	}
	now := s.now()
	end := now.Add(SessionTTL)
	if !expires.IsZero() && expires.Before(end) {
		end = expires
	}
	if err := s.sessions.Create(r.Context(), Session{IDHash: HashSessionID(id), TokenID: p.TokenID,
		UserID: p.UserID, CreatedAt: now, ExpiresAt: end}); err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", Expires: end,
		MaxAge: int(end.Sub(now).Seconds()), HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode})
	return id, nil
}

// EndSession signs the browser out: the session is deleted server-side (a
// copy of the cookie replayed later is signed out) and the cookie cleared.
func (s *Site) EndSession(c echo.Context) error {
	if ck, err := c.Request().Cookie(SessionCookie); err == nil && ck.Value != "" {
		if err := s.sessions.Delete(c.Request().Context(), HashSessionID(ck.Value)); err != nil {
			return err
		}
	}
	s.clearCookie(c, SessionCookie)
	return nil
}

// Sessions is the session store (for revoking a token's sessions).
func (s *Site) Sessions() *Sessions { return s.sessions }

// SignInURL is the sign-in page that comes back to next (a local path)
// afterwards.
func SignInURL(next string) string {
	if next == "" || next == "/" {
		return "/-/signin"
	}
	return "/-/signin?next=" + url.QueryEscape(next)
}

// LocalPath returns next when it is a local path (so a sign-in cannot send
// the browser to another site), else "/".
func LocalPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// Redirect answers a POST with 303 See Other to a local path.
func Redirect(c echo.Context, path string) error {
	return c.Redirect(http.StatusSeeOther, LocalPath(path))
}
