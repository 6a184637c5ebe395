// Package auditapi serves the audit log to administrators:
//
//	GET /api/v1/audit?org=ORG&since=24h[&until=RFC3339][&action=A][&limit=N]  → {"events": [...]}
//	GET /api/v1/audit/export?org=ORG&since=7d                                 → JSON lines
//
// A site administrator may query every organization (and events without
// one, such as user changes); an organization's administrator must name it
// with org=.
package auditapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/audit"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/logging"
	"github.com/packyard/packyard/pkg/server"
	"go.uber.org/zap"
)

// API serves the audit routes.
type API struct {
	Store *audit.Store
	Authz access.Authorizer
	Log   *zap.Logger
}

// Routes are the API's routes for the kernel's outer mux.
func (a *API) Routes() []server.Route {
	return []server.Route{
		{Pattern: "GET /api/v1/audit", Handler: http.HandlerFunc(a.list)},
		{Pattern: "GET /api/v1/audit/export", Handler: http.HandlerFunc(a.export)},
	}
}

// authorize checks that the caller may read the events q selects.
func (a *API) authorize(r *http.Request, q audit.Query) error {
	p, _ := access.PrincipalFrom(r.Context())
	return Authorize(r.Context(), a.Authz, p, q)
}

// Authorize is the audit log's read rule, for the API and the web UI: a
// site administrator's unlimited admin token reads everything; an
// organization's administrators read that organization's events (q.Org).
func Authorize(ctx context.Context, authz access.Authorizer, p *access.Principal, q audit.Query) error {
	if p == nil {
		return fmt.Errorf("the audit log needs an administrator's token: %w", errs.ErrUnauthenticated)
	}
	if q.Org == "" {
		if p.SiteAdmin && p.OrgID == "" && p.Scope == "admin" {
			return nil
		}
		return errs.PermissionDeniedf("only a site administrator may read the whole audit log; an organization administrator names it with ?org=")
	}
	return authz.Authorize(ctx, p, access.ActionAdmin, access.Resource{Org: q.Org, Kind: "audit log", Name: q.Org})
}

func (a *API) query(w http.ResponseWriter, r *http.Request) (audit.Query, bool) {
	q, err := audit.ParseQuery(r.URL.Query(), time.Now())
	if err == nil {
		err = a.authorize(r, q)
	}
	if err != nil {
		a.fail(w, r, err)
		return audit.Query{}, false
	}
	return q, true
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	access.WriteError(w, r, nil, err) // logs what the client is not told
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q, ok := a.query(w, r)
	if !ok {
		return
	}
	events, err := a.Store.List(r.Context(), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if events == nil {
		events = []audit.Event{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"events": events})
}

func (a *API) export(w http.ResponseWriter, r *http.Request) {
	q, ok := a.query(w, r)
	if !ok {
		return
	}
	if err := Export(w, r, a.Store, q, a.Log); err != nil {
		a.fail(w, r, err)
	}
}

// Export streams the events q selects as JSON lines (the caller has
// authorized q). An error before the first event is returned for the
// caller to answer; a later one ends the stream early (the client sees a
// truncated body) and is logged.
func Export(w http.ResponseWriter, r *http.Request, store *audit.Store, q audit.Query, log *zap.Logger) error {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="packyard-audit.jsonl"`)
	enc := json.NewEncoder(w)
	n := 0
	err := store.Export(r.Context(), q, func(e audit.Event) error {
		n++
		return enc.Encode(e)
	})
	if err != nil && n > 0 {
		logging.FromContext(r.Context(), log).Error("audit export interrupted", zap.Int("events", n), zap.Error(err))
		panic(http.ErrAbortHandler)
	}
	return err
}
