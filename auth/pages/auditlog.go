package pages

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/audit/auditapi"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/web"
)

// auditPageLimit is how many of the latest events the page shows; the
// export has them all.
const auditPageLimit = 200

type auditData struct {
	Events []audit.Event
	Export string // the export link with the same filters
	More   bool   // the page shows only the latest auditPageLimit
}

// auditQuery reads the filters (org, action, actor, since, until; the API's
// parameters) and authorizes them by the API's rule (auditapi.Authorize).
func (p *Pages) auditQuery(c echo.Context) (audit.Query, *web.Form, error) {
	v := web.ViewerOf(c)
	if !v.SignedIn() {
		return audit.Query{}, nil, errs.Wrap(errs.ErrUnauthenticated, "sign in to read the audit log", nil)
	}
	vals := c.QueryParams()
	for _, k := range []string{"org", "action", "actor", "since", "until"} {
		if len(vals[k]) > 1 || len(vals.Get(k)) > 200 {
			return audit.Query{}, nil, errs.Invalidf("the %s filter is given more than once or is too long", k)
		}
	}
	if vals.Get("since") == "" {
		vals.Set("since", "7d")
	}
	f := web.NewForm("org", vals.Get("org"), "action", vals.Get("action"), "actor", vals.Get("actor"),
		"since", vals.Get("since"), "until", vals.Get("until"))
	q, err := audit.ParseQuery(vals, time.Now())
	if err != nil {
		return audit.Query{}, f, err
	}
	q.Limit = 0
	return q, f, auditapi.Authorize(c.Request().Context(), p.site.Authorizer(), v.Principal, q)
}

func (p *Pages) auditLog(c echo.Context) error {
	q, f, err := p.auditQuery(c)
	if err != nil {
		if f == nil || !fieldError(f, "since", err) {
			return err
		}
		return p.site.Render(c, http.StatusBadRequest, p.t, "audit.html", web.Page{Title: "Audit log",
			Crumbs: []web.Crumb{{Name: "Audit log"}}, Form: f, Data: auditData{}})
	}
	q.Limit = auditPageLimit + 1
	events, err := p.audit.List(c.Request().Context(), q)
	if err != nil {
		return err
	}
	d := auditData{Export: "/-/audit/export?" + c.QueryParams().Encode()}
	if len(events) > auditPageLimit {
		events, d.More = events[1:], true
	}
	for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 { // newest first
		events[i], events[j] = events[j], events[i]
	}
	d.Events = events
	return p.site.Render(c, http.StatusOK, p.t, "audit.html", web.Page{Title: "Audit log",
		Crumbs: []web.Crumb{{Name: "Audit log"}}, Form: f, Data: d})
}

// auditExport streams the selected events as JSON lines, as the API's
// export does.
func (p *Pages) auditExport(c echo.Context) error {
	q, _, err := p.auditQuery(c)
	if err != nil {
		return err
	}
	return auditapi.Export(c.Response(), c.Request(), p.audit, q, p.log)
}
