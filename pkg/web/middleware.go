package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
)

// Cookie and form field names.
const (
	SessionCookie = "packyard_session" // the session id (HttpOnly, SameSite=Lax, Secure under TLS)
	CSRFCookie    = "packyard_csrf"    // the double-submit token of forms shown without a session
	CSRFField     = "_csrf"            // the form field every POST carries
)

// MaxFormBytes bounds an application/x-www-form-urlencoded body.
const MaxFormBytes = 64 << 10

var errNoAuthorizer = errors.New("web: viewer without an authorizer")

// errCSRF is what a POST without a valid CSRF token or from another site gets.
var errCSRF = errs.PermissionDeniedf("this form was not sent from a packyard page (missing or stale security token, or another site's request): reload the page and try again")

// wrap is the kit's middleware around every page handler.
func (s *Site) wrap(h HandlerFunc, cfg routeConfig) echo.HandlerFunc {
	return func(c echo.Context) error {
		securityHeaders(c.Response().Header())
		if org := c.Param("org"); org != "" && metadata.CheckOrgName(org) != nil {
			// No organization can have this name (e.g. /metrics on a
			// listener that does not serve it): not found, for anyone.
			return s.Error(c, errs.NotFoundf("there is no page at %s", c.Request().URL.Path))
		}
		v, err := s.resolve(c)
		if err != nil {
			return s.Error(c, err)
		}
		r := c.Request()
		ctx := context.WithValue(r.Context(), viewerKey{}, v)
		if v.Session {
			ctx = access.WithPrincipal(ctx, v.Principal)
		}
		c.SetRequest(r.WithContext(ctx))
		c.Set("web.viewer", v)
		if r.Method == http.MethodPost {
			if err := s.checkPost(c, cfg); err != nil {
				return s.Error(c, err)
			}
		}
		if err := h(c); err != nil {
			return s.Error(c, err)
		}
		return nil
	}
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "+
		"script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// resolve finds the viewer: the principal the kernel's middleware took from
// an Authorization header, else the session cookie's, re-checked through
// the token it was started from.
func (s *Site) resolve(c echo.Context) (*Viewer, error) {
	r := c.Request()
	if p, ok := access.PrincipalFrom(r.Context()); ok {
		return &Viewer{Principal: p, authz: s.authz}, nil
	}
	v := &Viewer{authz: s.authz}
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return v, nil
	}
	ctx := r.Context()
	hash := HashSessionID(ck.Value)
	sess, err := s.sessions.Get(ctx, hash, s.now())
	if errors.Is(err, errs.ErrNotFound) {
		s.clearCookie(c, SessionCookie)
		v.Ended = true
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	p, err := s.tokens.AuthenticateTokenID(ctx, sess.TokenID)
	if errors.Is(err, errs.ErrUnauthenticated) || errors.Is(err, errs.ErrNotFound) || (err == nil && p.UserID != sess.UserID) {
		_ = s.sessions.Delete(ctx, hash)
		s.clearCookie(c, SessionCookie)
		v.Ended = true
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	cp := *p
	cp.Method = "web"
	v.Principal, v.Session = &cp, true
	c.Set("web.session", ck.Value)
	return v, nil
}

// CSRFToken is the token the forms of this page carry: derived from the
// session id when there is a session, else the double-submit cookie's
// (set on first use).
func (s *Site) CSRFToken(c echo.Context) string {
	if t, ok := c.Get("web.csrf").(string); ok {
		return t
	}
	t := ""
	if id, ok := c.Get("web.session").(string); ok && id != "" {
		t = sessionCSRF(id)
	} else if ck, err := c.Request().Cookie(CSRFCookie); err == nil && len(ck.Value) == 64 {
		t = ck.Value
	} else {
		t, _ = NewSessionID()
		http.SetCookie(c.Response(), &http.Cookie{Name: CSRFCookie, Value: t, Path: "/", HttpOnly: true,
			Secure: s.secure(c.Request()), SameSite: http.SameSiteStrictMode})
	}
	c.Set("web.csrf", t)
	return t
}

func sessionCSRF(sessionID string) string {
	h := sha256.Sum256([]byte("packyard-csrf:" + sessionID))
	return hex.EncodeToString(h[:])
}

// checkPost refuses a cross-site POST (Sec-Fetch-Site, Origin), parses the
// body within its limit and compares the CSRF field with the expected token.
func (s *Site) checkPost(c echo.Context, cfg routeConfig) error {
	r := c.Request()
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errCSRF
	}
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, s.base.For(r)) {
		return errCSRF
	}
	if err := parseBody(c, cfg); err != nil {
		return err
	}
	got := formValue(r, CSRFField)
	want := ""
	if id, ok := c.Get("web.session").(string); ok && id != "" {
		want = sessionCSRF(id)
	} else if ck, err := r.Cookie(CSRFCookie); err == nil {
		want = ck.Value
	}
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errCSRF
	}
	c.Set("web.csrf", want)
	return nil
}

func sameOrigin(origin, base string) bool {
	o, err := url.Parse(origin)
	b, err2 := url.Parse(base)
	return err == nil && err2 == nil && strings.EqualFold(o.Scheme, b.Scheme) && strings.EqualFold(o.Host, b.Host)
}

func parseBody(c echo.Context, cfg routeConfig) error {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case cfg.multipart > 0 && mt == "multipart/form-data":
		r.Body = http.MaxBytesReader(c.Response(), r.Body, cfg.multipart)
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return formError(err, cfg.multipart)
		}
	case mt == "application/x-www-form-urlencoded":
		r.Body = http.MaxBytesReader(c.Response(), r.Body, MaxFormBytes)
		if err := r.ParseForm(); err != nil {
			return formError(err, MaxFormBytes)
		}
	default:
		return errs.Invalidf("a form must be sent as application/x-www-form-urlencoded%s", map[bool]string{true: " or multipart/form-data", false: ""}[cfg.multipart > 0])
	}
	return nil
}

func formError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errs.TooLargef("the form is larger than %s", humanBytes(limit))
	}
	return errs.Wrap(errs.ErrInvalidArgument, "the form could not be read", err)
}

// formValue is a POST field of a urlencoded or multipart body (never the query).
func formValue(r *http.Request, name string) string {
	if r.MultipartForm != nil {
		if vs := r.MultipartForm.Value[name]; len(vs) == 1 {
			return vs[0]
		}
		return ""
	}
	if vs := r.PostForm[name]; len(vs) == 1 {
		return vs[0]
	}
	return ""
}

func (s *Site) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.base.For(r), "https:")
}

func (s *Site) clearCookie(c echo.Context, name string) {
	http.SetCookie(c.Response(), &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(c.Request()), SameSite: http.SameSiteLaxMode})
}
