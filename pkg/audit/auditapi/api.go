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
	_ "embed"

	"encoding/json"
	"fmt"
	"github.com/packyard/packyard/pkg/api"
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
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		return fmt.Errorf("the audit log needs an administrator's token: %w", errs.ErrUnauthenticated)
	}
	if q.Org == "" {
		if p.SiteAdministrator() {
			return nil
		}
		return errs.PermissionDeniedf("only a site administrator may read the whole audit log; an organization administrator names it with ?org=")
	}
	return a.Authz.Authorize(r.Context(), p, access.ActionAdmin, access.Resource{Org: q.Org, Kind: "audit log", Name: q.Org})
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
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="packyard-audit.jsonl"`)
	enc := json.NewEncoder(w)
	n := 0
	err := a.Store.Export(r.Context(), q, func(e audit.Event) error {
		n++
		return enc.Encode(e)
	})
	if err != nil {
		if n == 0 {
			a.fail(w, r, err)
			return
		}
		// The status is sent: end the stream early; the client sees a truncated body.
		logging.FromContext(r.Context(), a.Log).Error("audit export interrupted", zap.Int("events", n), zap.Error(err))
		panic(http.ErrAbortHandler)
	}
}

//go:embed openapi.yaml
var fragment []byte

// Fragment is this API's part of the OpenAPI document.
func Fragment() api.Fragment { return api.Fragment{Name: "audit", YAML: fragment} }
