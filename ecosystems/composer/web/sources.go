package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/ecosystems/composer"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/errs"
	kit "github.com/packyard/packyard/pkg/web"
)

// syncWatch is how long the sources page follows a sync it started before
// it stops refreshing itself.
const syncWatch = 10 * time.Minute

// sourcesView is the data of the git sources page.
type sourcesView struct {
	Nav     nav
	Sources []sourceRow
	Created *createdSource // the source just added, with its secret (shown once)
	Syncing *syncing       // the sync this page follows, if any
}

type sourceRow struct {
	composer.Source
	Webhook  string // the webhook URL ("" when webhooks are off for it)
	Warnings []composer.RefStatus
	Duration string
}

type createdSource struct {
	URL, Webhook, Secret string
}

// syncing is a sync the viewer started (?syncing=ID&since=MICROS): it has
// ended when the source's last sync is later than since.
type syncing struct {
	ID, URL     string
	Done        bool
	Elapsed     int // seconds
	Status, Err string
	Poll, After string // the status URL, and this page without the sync
	Refresh     bool   // the page refreshes itself (no JavaScript needed)
}

func (p *Pages) sourcesPage(c echo.Context) error {
	org, err := authorize(c, access.ActionRead)
	if err != nil {
		return err
	}
	return p.renderSources(c, org, http.StatusOK, kit.NewForm(), nil, "")
}

func (p *Pages) renderSources(c echo.Context, org string, status int, f *kit.Form, created *createdSource, notice string) error {
	ctx := c.Request().Context()
	srcs, err := p.svc.Sources(ctx, org)
	if err != nil {
		return err
	}
	v := sourcesView{Nav: nav{Org: org, Here: "sources", Rights: rightsOf(c, org)}, Created: created}
	for _, s := range srcs {
		row := sourceRow{Source: s}
		if s.Webhook {
			row.Webhook = p.webhookURL(c, org, s.ID)
		}
		for _, r := range s.Refs {
			if r.Warning != "" {
				row.Warnings = append(row.Warnings, r)
			}
		}
		if s.SyncedAt != nil {
			row.Duration = (time.Duration(s.SyncDuration) * time.Millisecond).String()
		}
		v.Sources = append(v.Sources, row)
		if id := c.QueryParam("syncing"); id == s.ID {
			v.Syncing = followSync(org, s, c.QueryParam("since"))
		}
	}
	return p.site.Render(c, status, p.t, "sources.html", kit.Page{Title: "Git sources · " + org,
		Crumbs: crumbs(org, kit.Crumb{Name: "Git sources"}), Data: v, Form: f, Notice: notice})
}

func (p *Pages) webhookURL(c echo.Context, org, id string) string {
	return p.orgBase(c) + "/composer/" + org + "/hooks/" + id
}

// followSync is the progress of a sync started at since (µs, from the
// page's own redirect); nil when since is not a time.
func followSync(org string, s composer.Source, since string) *syncing {
	at, err := strconv.ParseInt(since, 10, 64)
	if err != nil {
		return nil
	}
	started := time.UnixMicro(at)
	q := url.Values{"since": {since}}
	y := &syncing{ID: s.ID, URL: s.URL, Poll: "/" + org + "/-/composer/sources/" + s.ID + "/status?" + q.Encode(),
		After: "/" + org + "/-/composer/sources", Status: s.Status, Err: s.LastError,
		Done: s.SyncedAt != nil && s.SyncedAt.After(started), Elapsed: int(time.Since(started).Seconds())}
	y.Refresh = !y.Done && time.Since(started) < syncWatch
	return y
}

// syncStatus is the JSON the optional script polls.
type syncStatus struct {
	Status   string     `json:"status"`
	Error    string     `json:"error,omitempty"`
	SyncedAt *time.Time `json:"synced_at,omitempty"`
	Done     bool       `json:"done"`
	Elapsed  int        `json:"elapsed"`
}

func (p *Pages) sourceStatus(c echo.Context) error {
	org, err := authorize(c, access.ActionRead)
	if err != nil {
		return err
	}
	s, err := p.svc.SourceOf(c.Request().Context(), org, c.Param("id"))
	if err != nil {
		return err
	}
	out := syncStatus{Status: s.Status, Error: s.LastError, SyncedAt: s.SyncedAt, Done: true}
	if y := followSync(org, s, c.QueryParam("since")); y != nil {
		out.Done, out.Elapsed = y.Done || !y.Refresh, y.Elapsed
	}
	return c.JSON(http.StatusOK, out)
}

func (p *Pages) syncSource(c echo.Context) error {
	org, err := authorize(c, access.ActionWrite)
	if err != nil {
		return err
	}
	if _, err := kit.ParseForm(c); err != nil {
		return err
	}
	id := c.Param("id")
	since := time.Now().UnixMicro()
	if err := p.svc.RequestSync(c.Request().Context(), org, id); err != nil {
		return err
	}
	q := url.Values{"syncing": {id}, "since": {strconv.FormatInt(since, 10)}}
	return kit.Redirect(c, "/"+org+"/-/composer/sources?"+q.Encode())
}

func (p *Pages) addSource(c echo.Context) error {
	org, err := authorize(c, access.ActionAdmin)
	if err != nil {
		return err
	}
	f, err := kit.ParseForm(c, "url", "username", "token", "ssh_key")
	if err != nil {
		return err
	}
	in := composer.SourceInput{URL: f.Value("url"), Username: f.Value("username"), Token: f.Value("token"), SSHKey: f.Value("ssh_key")}
	f.Values.Del("token") // credentials are never shown again, not even back in the form
	f.Values.Del("ssh_key")
	if f.Required("url") {
		src, secret, err := p.svc.AddSource(c.Request().Context(), org, in)
		if err == nil {
			created := &createdSource{URL: src.URL, Secret: secret}
			if secret != "" {
				created.Webhook = p.webhookURL(c, org, src.ID)
			}
			return p.renderSources(c, org, http.StatusCreated, kit.NewForm(), created,
				"Source added. Press \"Sync now\" to read its tags and branches.")
		}
		f.SetError(sourceField(err), errs.PublicMessage(err))
	}
	return p.renderSources(c, org, http.StatusBadRequest, f, nil, "")
}

// sourceField is the field a refused source's message belongs next to.
func sourceField(err error) string {
	msg := errs.PublicMessage(err)
	switch {
	case containsAny(msg, "SSH key", "ssh key", "deploy key", "passphrase"):
		return "ssh_key"
	case containsAny(msg, "token"):
		return "token"
	}
	return "url"
}

func (p *Pages) removeSource(c echo.Context) error {
	org, err := authorize(c, access.ActionAdmin)
	if err != nil {
		return err
	}
	if _, err := kit.ParseForm(c); err != nil {
		return err
	}
	if err := p.svc.RemoveSource(c.Request().Context(), org, c.Param("id")); err != nil {
		return err
	}
	return kit.Redirect(c, "/"+org+"/-/composer/sources")
}
