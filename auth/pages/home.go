package pages

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/metadata"
	"github.com/packyard/packyard/pkg/web"
)

type orgRow struct {
	Name   string
	Public bool
	Counts []countCell
}

type countCell struct {
	Noun string
	N    int
}

type homeData struct {
	Orgs      []orgRow
	SiteAdmin bool
	Base      string // this server's base URL
	Host      string
	Example   string // an organization name for the quick start
}

// visibleOrgs are the organizations the viewer may read, by name.
func (p *Pages) visibleOrgs(ctx context.Context, v *web.Viewer) ([]metadata.Org, error) {
	all, err := p.store.ListOrgs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]metadata.Org, 0, len(all))
	for _, o := range all {
		err := v.Authorize(ctx, access.ActionRead, access.Resource{Org: o.Name})
		switch {
		case err == nil:
			out = append(out, o)
		case errors.Is(err, errs.ErrUnauthenticated), errors.Is(err, errs.ErrNotFound), errors.Is(err, errs.ErrPermissionDenied):
		default:
			return nil, err
		}
	}
	return out, nil
}

func (p *Pages) home(c echo.Context) error {
	return p.renderHome(c, http.StatusOK, web.NewForm())
}

// renderHome shows the organizations the viewer may read with their
// counts, and the form f (the organization form).
func (p *Pages) renderHome(c echo.Context, status int, f *web.Form) error {
	ctx := c.Request().Context()
	v := web.ViewerOf(c)
	orgs, err := p.visibleOrgs(ctx, v)
	if err != nil {
		return err
	}
	rows, err := p.counts(ctx, orgs)
	if err != nil {
		return err
	}
	d := homeData{Orgs: rows, SiteAdmin: v.SiteAdmin(), Base: p.site.BaseURL(c.Request()), Host: p.host(c.Request()), Example: "ORG"}
	if len(rows) > 0 {
		d.Example = rows[0].Name
	}
	return p.site.Render(c, status, p.t, "home.html", web.Page{Title: "Organizations", Data: d, Form: f})
}

// counts asks every contributor that counts (web.Counter) for its items per
// organization.
func (p *Pages) counts(ctx context.Context, orgs []metadata.Org) ([]orgRow, error) {
	names := make([]string, len(orgs))
	rows := make([]orgRow, len(orgs))
	for i, o := range orgs {
		names[i] = o.Name
		rows[i] = orgRow{Name: o.Name, Public: o.Public}
	}
	if len(orgs) == 0 {
		return rows, nil
	}
	for _, pg := range p.site.Pages() {
		counter, ok := pg.(web.Counter)
		if !ok {
			continue
		}
		n, err := counter.Count(ctx, names)
		if err != nil {
			return nil, err
		}
		for i := range rows {
			rows[i].Counts = append(rows[i].Counts, countCell{Noun: counter.Noun(), N: n[rows[i].Name]})
		}
	}
	return rows, nil
}

// createOrg creates an organization (site administrators: the same rule as
// buf's CreateOrganization for a site administrator's token).
func (p *Pages) createOrg(c echo.Context) error {
	f, err := web.ParseForm(c, "name", "visibility")
	if err != nil {
		return err
	}
	v := web.ViewerOf(c)
	if !v.SignedIn() {
		return errs.Wrap(errs.ErrUnauthenticated, "sign in to create an organization", nil)
	}
	if !v.SiteAdmin() {
		return errs.PermissionDeniedf("only a site administrator may create organizations")
	}
	ctx := c.Request().Context()
	if f.Required("name") {
		if _, err := p.admin.CreateOrg(ctx, f.Value("name"), f.Value("visibility") == "public"); err != nil {
			if !fieldError(f, "name", err) {
				return err
			}
		}
	}
	if !f.Valid() {
		return p.renderHome(c, http.StatusBadRequest, f)
	}
	return web.Redirect(c, "/"+f.Value("name"))
}

// fieldError puts a user's error (invalid, exists, precondition, not
// found) next to a field and reports true; other errors are the page's.
func fieldError(f *web.Form, field string, err error) bool {
	switch {
	case errors.Is(err, errs.ErrInvalidArgument), errors.Is(err, errs.ErrAlreadyExists),
		errors.Is(err, errs.ErrFailedPrecondition), errors.Is(err, errs.ErrNotFound):
		f.SetError(field, errs.PublicMessage(err))
		return true
	}
	return false
}

// noticeText is the confirmation a redirect after a POST names (a fixed
// set: never text from the query).
func noticeText(key string) string {
	return map[string]string{
		"revoked":  "Token revoked.",
		"member":   "Member saved.",
		"removed":  "Member removed.",
		"settings": "Settings saved.",
	}[key]
}
