package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
)

// ErrorData is the data of the error page.
type ErrorData struct {
	Status  int
	Heading string
	Message string
	SignIn  bool // 401: offer to sign in and come back
	Ended   bool // the viewer's session ended (token revoked or expired)
}

// Error renders err as an HTML error page with the status of its category
// (access.LogError keeps what the page does not say): 401 offers the
// sign-in page that comes back here, 403 and 404 say so, 413 names the
// limit, others name the request id. It returns nil once the page is
// written (or err when the response was already committed).
func (s *Site) Error(c echo.Context, err error) error {
	if c.Response().Committed {
		access.LogError(c.Request().Context(), s.log, err)
		return nil
	}
	access.LogError(c.Request().Context(), s.log, err)
	status := errs.HTTPStatus(err)
	msg := errs.PublicMessage(err)
	var mbe *http.MaxBytesError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &mbe):
		status, msg = http.StatusRequestEntityTooLarge, "the request is larger than "+humanBytes(mbe.Limit)
	case errs.Category(err) == nil && errors.As(err, &he):
		status, msg = he.Code, http.StatusText(he.Code)
	case errors.Is(err, errs.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	var hs access.HeaderSetter
	if errors.As(err, &hs) {
		hs.SetHeaders(c.Response().Header())
	}
	errs.SetRetryAfter(c.Response().Header(), status)
	d := ErrorData{Status: status, Message: msg, Ended: ViewerOf(c).Ended}
	switch status {
	case http.StatusUnauthorized:
		d.Heading, d.SignIn = "Sign in to see this page", true
	case http.StatusForbidden:
		d.Heading = "You may not do this"
	case http.StatusNotFound:
		d.Heading = "Not found"
	case http.StatusTooManyRequests:
		d.Heading = "Too many attempts"
	case http.StatusServiceUnavailable:
		d.Heading = "Temporarily unavailable"
	default:
		if status >= 500 {
			d.Heading = "Something went wrong"
		} else {
			d.Heading = "This request cannot be served"
		}
	}
	if rerr := s.Render(c, status, s.kit, "error.html", Page{Title: d.Heading, Data: d}); rerr != nil {
		access.LogError(c.Request().Context(), s.log, rerr)
		return c.String(status, msg)
	}
	return nil
}

// NotFound renders the 404 page.
func (s *Site) NotFound(c echo.Context) error {
	return s.Error(c, errs.NotFoundf("there is no page at %s", c.Request().URL.Path))
}
