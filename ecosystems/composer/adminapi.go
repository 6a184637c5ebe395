package composer

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/pkg/api"
	"github.com/packyard/packyard/pkg/ecosystem"
)

//go:embed openapi.yaml
var fragment []byte

// Fragment is the Composer ecosystem's part of the admin API's OpenAPI
// document.
func Fragment() api.Fragment { return api.Fragment{Name: "composer", YAML: fragment} }

// registerAPI serves the `packyard composer` commands under
// /api/v1/composer/{org}, with the same rights as the repository's own
// routes: reading needs read access, uploading and syncing write access,
// and managing sources, upstreams, advisories and versions admin access.
// Lists are paginated (package api).
func (e *Ecosystem) registerAPI(r ecosystem.Router, read, write, admin echo.MiddlewareFunc) {
	g := r.Group("/api/v1/composer")
	g.GET("/:org/packages", e.v1Packages, read)
	g.DELETE("/:org/packages/:vendor/:name/versions/:version", e.apiDeleteVersion, admin)
	g.POST("/:org/uploads", e.upload, write)
	g.GET("/:org/sources", e.v1Sources, read)
	g.POST("/:org/sources", e.v1AddSource, admin)
	g.DELETE("/:org/sources/:id", e.v1RemoveSource, admin)
	g.POST("/:org/sources/:id/sync", e.v1Sync, write)
	g.GET("/:org/upstreams", e.v1Upstreams, admin)
	g.POST("/:org/upstreams", e.apiAddUpstream, admin)
	g.DELETE("/:org/upstreams/:id", e.apiRemoveUpstream, admin)
	g.POST("/:org/mirror", e.apiMirror, write)
	g.GET("/:org/advisories", e.v1Advisories, read)
	g.POST("/:org/advisories", e.apiAddAdvisory, admin)
	g.DELETE("/:org/advisories/:id", e.apiRemoveAdvisory, admin)
}

// page answers one page of items (in their stable order).
func page[T any](c echo.Context, items []T) error {
	return api.WritePage(c.Response(), c.Request(), items)
}

func (e *Ecosystem) v1Packages(c echo.Context) error {
	ps, err := e.svc.ListPackages(c.Request().Context(), c.Param("org"))
	if err != nil {
		return err
	}
	return page(c, ps)
}

func (e *Ecosystem) v1Sources(c echo.Context) error {
	srcs, err := e.svc.Sources(c.Request().Context(), c.Param("org"))
	if err != nil {
		return err
	}
	return page(c, srcs)
}

// sourceRequest is the body of POST /api/v1/composer/{org}/sources; the
// credentials are stored encrypted and never shown again.
type sourceRequest struct {
	URL           string `json:"url"`
	Username      string `json:"username"`
	Token         string `json:"token"`
	SSHKey        string `json:"ssh_key"`
	SSHPassphrase string `json:"ssh_passphrase"`
	KnownHosts    string `json:"known_hosts"`
}

// AddedSource is a new git source with its webhook (the secret shown this
// once).
type AddedSource struct {
	Source        Source `json:"source"`
	WebhookURL    string `json:"webhook_url"`
	WebhookSecret string `json:"webhook_secret,omitempty"`
}

// v1AddSource registers a git repository (https or ssh; a local path only
// with the CLI). It does not sync: POST …/sources/{id}/sync does.
func (e *Ecosystem) v1AddSource(c echo.Context) error {
	var r sourceRequest
	if err := api.Decode(c.Request(), &r); err != nil {
		return err
	}
	in := SourceInput{URL: r.URL, Username: r.Username, Token: r.Token, SSHKey: r.SSHKey, SSHPassphrase: r.SSHPassphrase,
		KnownHosts: r.KnownHosts}
	src, secret, err := e.svc.AddSource(c.Request().Context(), c.Param("org"), in)
	if err != nil {
		return err
	}
	hook := e.base.For(c.Request()) + "/composer/" + c.Param("org") + "/hooks/" + src.ID
	return c.JSON(http.StatusCreated, AddedSource{Source: src, WebhookURL: hook, WebhookSecret: secret})
}

func (e *Ecosystem) v1RemoveSource(c echo.Context) error {
	if err := e.svc.RemoveSource(c.Request().Context(), c.Param("org"), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// v1Sync syncs a source now and answers its report; a sync that failed
// answers 200 too, its report saying why ("error").
func (e *Ecosystem) v1Sync(c echo.Context) error {
	rep, err := e.svc.SyncOf(c.Request().Context(), c.Param("org"), c.Param("id"))
	if err != nil && rep.Source == "" {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

func (e *Ecosystem) v1Upstreams(c echo.Context) error {
	ups, err := e.proxy.Upstreams(c.Request().Context(), c.Param("org"))
	if err != nil {
		return err
	}
	return page(c, ups)
}

func (e *Ecosystem) v1Advisories(c echo.Context) error {
	as, err := e.advisories(c)
	if err != nil {
		return err
	}
	return page(c, as)
}
