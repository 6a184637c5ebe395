package buf

import (
	"net/http"
	"time"

	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/errs"
)

// moduleAPI is buf modules, labels and commits under the admin API, through
// the same Service methods (and so the same rights) as the registry
// protocol's ModuleService, LabelService and CommitService:
//
//	GET    /api/v1/buf/modules?owner=ORG                          → a page of modules
//	POST   /api/v1/buf/modules                                    → the module created
//	GET    /api/v1/buf/modules/{owner}/{module}                   → the module
//	PATCH  /api/v1/buf/modules/{owner}/{module}                   → the module updated
//	DELETE /api/v1/buf/modules/{owner}/{module}
//	GET    /api/v1/buf/modules/{owner}/{module}/labels[?archived=] → a page of labels
//	PUT    /api/v1/buf/modules/{owner}/{module}/labels/{label}    → the label, created or moved to {"commit_id"}
//	PATCH  /api/v1/buf/modules/{owner}/{module}/labels/{label}    → {"archived": bool}
//	GET    /api/v1/buf/modules/{owner}/{module}/commits           → a page of commits, newest first
type moduleAPI struct{ s *Service }

func (a *moduleAPI) routes() map[string]http.Handler {
	h := func(f func(w http.ResponseWriter, r *http.Request) error) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := f(w, r); err != nil {
				api.Fail(w, r, err)
			}
		})
	}
	const m = "/api/v1/buf/modules/{owner}/{module}"
	return map[string]http.Handler{
		"GET /api/v1/buf/modules":        h(a.list),
		"POST /api/v1/buf/modules":       h(a.create),
		"GET " + m:                       h(a.get),
		"PATCH " + m:                     h(a.update),
		"DELETE " + m:                    h(a.remove),
		"GET " + m + "/labels":           h(a.labels),
		"PUT " + m + "/labels/{label}":   h(a.setLabel),
		"PATCH " + m + "/labels/{label}": h(a.archiveLabel),
		"GET " + m + "/commits":          h(a.commits),
	}
}

// APIModule is a buf module as the admin API answers it.
type APIModule struct {
	ID           string    `json:"id"`
	Owner        string    `json:"owner"`
	Name         string    `json:"name"`
	Visibility   string    `json:"visibility"` // public or private
	Deprecated   bool      `json:"deprecated"`
	Description  string    `json:"description"`
	URL          string    `json:"url"`
	DefaultLabel string    `json:"default_label"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func moduleOf(m ModuleRecord) APIModule {
	vis := "private"
	if m.Visibility == VisibilityPublic {
		vis = "public"
	}
	return APIModule{ID: m.ID, Owner: m.OwnerName, Name: m.Name, Visibility: vis, Deprecated: m.State == StateDeprecated,
		Description: m.Description, URL: m.URL, DefaultLabel: m.DefaultLabel, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func parseVisibility(s string) (int, error) {
	switch s {
	case "public":
		return VisibilityPublic, nil
	case "private", "":
		return VisibilityPrivate, nil
	}
	return 0, errs.Invalidf("visibility %q: use public or private", s)
}

// bufPage is the Service's page for an API page: one more than asked, to
// know whether another follows (api.More).
func bufPage(p api.Page, desc bool) Page {
	return Page{Offset: p.Offset, Limit: p.Size + 1, Desc: desc}
}

func (a *moduleAPI) list(w http.ResponseWriter, r *http.Request) error {
	owner := r.URL.Query().Get("owner")
	if owner == "" {
		return errs.Invalidf("name the organization with ?owner=")
	}
	p, err := api.ParsePage(r.URL.Query())
	if err != nil {
		return err
	}
	ms, err := a.s.ListModules(r.Context(), []OwnerRef{{Name: owner}}, false, bufPage(p, false))
	if err != nil {
		return err
	}
	out := make([]APIModule, 0, len(ms))
	for _, m := range ms {
		out = append(out, moduleOf(m))
	}
	api.WriteJSON(w, http.StatusOK, api.More(out, p))
	return nil
}

type createModuleRequest struct {
	Owner        string `json:"owner"`
	Name         string `json:"name"`
	Visibility   string `json:"visibility"`
	Description  string `json:"description"`
	URL          string `json:"url"`
	DefaultLabel string `json:"default_label"`
}

func (a *moduleAPI) create(w http.ResponseWriter, r *http.Request) error {
	var req createModuleRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	vis, err := parseVisibility(req.Visibility)
	if err != nil {
		return err
	}
	m, err := a.s.CreateModule(r.Context(), NewModule{Owner: OwnerRef{Name: req.Owner}, Name: req.Name, Visibility: vis,
		Description: req.Description, URL: req.URL, DefaultLabel: req.DefaultLabel})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, moduleOf(m))
	return nil
}

func pathModule(r *http.Request) ModuleRef {
	return ModuleRef{Owner: r.PathValue("owner"), Name: r.PathValue("module")}
}

func (a *moduleAPI) get(w http.ResponseWriter, r *http.Request) error {
	m, err := a.s.GetModule(r.Context(), pathModule(r))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, moduleOf(m))
	return nil
}

type updateModuleRequest struct {
	Visibility   *string `json:"visibility"`
	Deprecated   *bool   `json:"deprecated"`
	Description  *string `json:"description"`
	URL          *string `json:"url"`
	DefaultLabel *string `json:"default_label"`
}

func (a *moduleAPI) update(w http.ResponseWriter, r *http.Request) error {
	var req updateModuleRequest
	if err := api.Decode(r, &req); err != nil {
		return err
	}
	u := ModuleUpdate{Ref: pathModule(r), Description: req.Description, URL: req.URL, DefaultLabel: req.DefaultLabel}
	if req.Visibility != nil {
		vis, err := parseVisibility(*req.Visibility)
		if err != nil {
			return err
		}
		u.Visibility = &vis
	}
	if req.Deprecated != nil {
		state := StateActive
		if *req.Deprecated {
			state = StateDeprecated
		}
		u.State = &state
	}
	m, err := a.s.UpdateModule(r.Context(), u)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, moduleOf(m))
	return nil
}

func (a *moduleAPI) remove(w http.ResponseWriter, r *http.Request) error {
	if err := a.s.DeleteModules(r.Context(), []ModuleRef{pathModule(r)}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
