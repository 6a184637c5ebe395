package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	kit "github.com/packyard/packyard/pkg/web"
)

// The upload form: the same Service.Upload as PUT /composer/{org}/upload,
// so the same checks and messages, shown next to the file field.

type uploadView struct {
	Nav   nav
	Limit int64
}

func (p *Pages) uploadPage(c echo.Context) error {
	org, err := authorize(c, access.ActionWrite)
	if err != nil {
		return err
	}
	return p.renderUpload(c, org, http.StatusOK, kit.NewForm(), "")
}

func (p *Pages) renderUpload(c echo.Context, org string, status int, f *kit.Form, notice string) error {
	return p.site.Render(c, status, p.t, "upload.html", kit.Page{Title: "Upload · " + org,
		Crumbs: crumbs(org, kit.Crumb{Name: "Upload"}), Form: f, Notice: notice,
		Data: uploadView{Nav: nav{Org: org, Here: "upload", Rights: rightsOf(c, org)}, Limit: p.svc.MaxUploadSize()}})
}

func (p *Pages) upload(c echo.Context) error {
	org, err := authorize(c, access.ActionWrite)
	if err != nil {
		return err
	}
	f, err := kit.ParseForm(c, "version")
	if err != nil {
		return err
	}
	files := c.Request().MultipartForm.File["zip"]
	switch {
	case len(files) == 0:
		f.SetError("zip", "Choose a zip archive that holds a composer.json.")
	case len(files) > 1:
		f.SetError("zip", "Send one archive at a time.")
	}
	if !f.Valid() {
		return p.renderUpload(c, org, http.StatusBadRequest, f, "")
	}
	zf, err := files[0].Open()
	if err != nil {
		return errs.Wrap(errs.ErrInvalidArgument, "the upload could not be read", err)
	}
	defer zf.Close()
	res, err := p.svc.Upload(c.Request().Context(), org, f.Value("version"), zf)
	if err != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(err, errs.ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, errs.ErrAlreadyExists):
			status = http.StatusConflict
		case !errors.Is(err, errs.ErrInvalidArgument):
			return err // not the input's fault: the error page
		}
		field := "zip"
		if containsAny(errs.PublicMessage(err), "version") && !errors.Is(err, errs.ErrAlreadyExists) {
			field = "version"
		}
		f.SetError(field, errs.PublicMessage(err))
		return p.renderUpload(c, org, status, f, "")
	}
	return kit.Redirect(c, packageURL(org, res.Name)+"?version="+url.QueryEscape(res.Version))
}
