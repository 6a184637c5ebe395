package buf

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/errs"
)

// pluginAPI is the plugin catalog under the admin API, as the CLI's
// `packyard buf plugin` commands:
//
//	GET    /api/v1/buf/plugins?owner=ORG[&page_size=&page_token=] → {"items": [...], "next_page_token": "..."}
//	POST   /api/v1/buf/plugins?owner=&name=&version=[&go_dep=MODULE@VERSION]...[&base_plugin=][&go_min_version=]
//	       body: the WebAssembly module                       → {"plugin": {...}, "created": bool}
//	DELETE /api/v1/buf/plugins/{owner}/{name}[?version=V]      → {"removed": N}
//
// Reading needs read access to the organization; adding and removing need
// an administrator of it.
type pluginAPI struct {
	s   *Service
	cat *plugin.Catalog
}

func (a *pluginAPI) routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /api/v1/buf/plugins":                   http.HandlerFunc(a.list),
		"POST /api/v1/buf/plugins":                  http.HandlerFunc(a.add),
		"DELETE /api/v1/buf/plugins/{owner}/{name}": http.HandlerFunc(a.remove),
	}
}

func (a *pluginAPI) authorize(r *http.Request, act access.Action, owner, name string) error {
	if owner == "" {
		return errs.Invalidf("name the organization with ?owner=")
	}
	return a.s.authz.Authorize(r.Context(), principal(r.Context()), act,
		access.Resource{Org: owner, Kind: "buf plugin", Name: owner + "/" + name})
}

func (a *pluginAPI) list(w http.ResponseWriter, r *http.Request) {
	owner := r.URL.Query().Get("owner")
	err := a.authorize(r, access.ActionRead, owner, "*")
	var ps []plugin.Plugin
	if err == nil {
		ps, err = a.cat.List(r.Context(), owner)
	}
	if err == nil {
		err = api.WritePage(w, r, ps)
	}
	if err != nil {
		access.WriteError(w, r, nil, err)
	}
}

func (a *pluginAPI) add(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := plugin.AddRequest{Owner: q.Get("owner"), Name: q.Get("name"), Version: q.Get("version"),
		GoDeps: q["go_dep"], BasePlugin: q.Get("base_plugin"), GoMinVersion: q.Get("go_min_version")}
	if err := a.authorize(r, access.ActionAdmin, req.Owner, req.Name); err != nil {
		access.WriteError(w, r, nil, err)
		return
	}
	max := a.cat.MaxSize()
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		access.WriteError(w, r, nil, errs.Wrap(errs.ErrInvalidArgument, "the request body could not be read", err))
		return
	}
	if int64(len(b)) > max {
		access.WriteError(w, r, nil, errs.TooLargef("the plugin's module is over the limit of %d bytes (PACKYARD_BUF_PLUGIN_MAX_SIZE)", max))
		return
	}
	req.Wasm = b
	p, created, err := a.cat.Add(r.Context(), req)
	if err != nil {
		access.WriteError(w, r, nil, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{"plugin": p, "created": created})
}

func (a *pluginAPI) remove(w http.ResponseWriter, r *http.Request) {
	owner, name := r.PathValue("owner"), r.PathValue("name")
	if err := a.authorize(r, access.ActionAdmin, owner, name); err != nil {
		access.WriteError(w, r, nil, err)
		return
	}
	n, err := a.cat.Remove(r.Context(), owner, name, r.URL.Query().Get("version"))
	if err != nil {
		access.WriteError(w, r, nil, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"removed": n})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: an error here has no one to go to
}
