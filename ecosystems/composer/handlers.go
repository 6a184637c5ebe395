package composer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/access"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/server"
)

// Ecosystem serves Composer repositories under /composer/{org}.
type Ecosystem struct {
	svc   *Service
	proxy *Proxy
	base  server.BaseURL
	log   *zap.Logger
}

var _ ecosystem.Ecosystem = (*Ecosystem)(nil)

// NewEcosystem returns the Composer ecosystem.
func NewEcosystem(svc *Service, base server.BaseURL, log *zap.Logger) *Ecosystem {
	if log == nil {
		log = zap.NewNop()
	}
	return &Ecosystem{svc: svc, proxy: svc.Proxy(), base: base, log: log}
}

// Name implements ecosystem.Ecosystem.
func (e *Ecosystem) Name() string { return "composer" }

func orgResource(c echo.Context) access.Resource {
	return access.Resource{Org: c.Param("org"), Kind: "composer repository"}
}

// Register implements ecosystem.Ecosystem.
func (e *Ecosystem) Register(r ecosystem.Router) error {
	g := r.Group("/composer")
	read := r.Require(access.ActionRead, orgResource)
	write := r.Require(access.ActionWrite, orgResource)
	admin := r.Require(access.ActionAdmin, orgResource)

	getAndHead(g, "/:org/packages.json", e.packagesJSON, read)
	getAndHead(g, "/:org/p2/:vendor/:file", e.p2, read)
	getAndHead(g, "/:org/dists/:vendor/:name/:file", e.dist, read)
	g.POST("/:org/downloads", e.downloads, read)
	getAndHead(g, "/:org/search.json", e.search, read)
	getAndHead(g, "/:org/list.json", e.list, read)
	g.PUT("/:org/upload", e.upload, write)
	g.POST("/:org/upload", e.upload, write)
	g.POST("/:org/hooks/:id", e.webhook) // authenticated by the source's secret
	getAndHead(g, "/:org/api/packages", e.apiPackages, read)
	g.DELETE("/:org/api/packages/:vendor/:name/versions/:version", e.apiDeleteVersion, admin)
	getAndHead(g, "/:org/api/sources", e.apiSources, read)
	g.POST("/:org/api/sources/:id/sync", e.apiSync, write)
	e.registerUpstreams(g, read, write, admin)
	e.registerAPI(r, read, write, admin)
	return nil
}

// getAndHead registers a GET route and, for the same handler, HEAD:
// Echo answers HEAD only on routes registered for it, and HEAD must work
// wherever GET does (net/http sends no body for HEAD).
func getAndHead(g *echo.Group, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	g.GET(path, h, m...)
	g.HEAD(path, h, m...)
}

func noStore(c echo.Context) {
	c.Response().Header().Set("Cache-Control", "private, no-cache")
}

func (e *Ecosystem) packagesJSON(c echo.Context) error {
	if ua := c.Request().UserAgent(); strings.HasPrefix(ua, "Composer/1.") {
		noStore(c)
		return c.JSON(http.StatusNotAcceptable, map[string]string{
			"error": "this repository speaks the Composer 2 protocol only; upgrade with: composer self-update --2",
		})
	}
	r, err := e.svc.ServedRoot(c.Request().Context(), c.Param("org"), e.base.For(c.Request()))
	if err != nil {
		return err
	}
	writeReady(c.Response(), c.Request(), r)
	return nil
}

func (e *Ecosystem) p2(c echo.Context) error {
	file := c.Param("file")
	base, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return errs.NotFoundf("not found")
	}
	dev := false
	if b, ok := strings.CutSuffix(base, "~dev"); ok {
		base, dev = b, true
	}
	name := strings.ToLower(c.Param("vendor") + "/" + base)
	if format.ValidatePackageName(name) != nil {
		return errs.NotFoundf("package %s not found", name)
	}
	r, err := e.svc.ServedMetadata(c.Request().Context(), c.Param("org"), name, dev, e.base.For(c.Request()))
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return errs.NotFoundf("package %s not found", name)
		}
		return err
	}
	writeReady(c.Response(), c.Request(), r)
	return nil
}

func (e *Ecosystem) dist(c echo.Context) error {
	ref, ok := strings.CutSuffix(c.Param("file"), ".zip")
	name := strings.ToLower(c.Param("vendor") + "/" + c.Param("name"))
	if !ok || ref == "" || format.ValidatePackageName(name) != nil {
		return errs.NotFoundf("not found")
	}
	rc, info, err := e.svc.Dist(c.Request().Context(), c.Param("org"), name, ref)
	return serveArchive(c, rc, info, "application/zip", err)
}

// serveArchive answers with an archive, which never changes (Range and
// conditional requests are served too), or with err.
func serveArchive(c echo.Context, rc io.ReadSeekCloser, info DistInfo, contentType string, err error) error {
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(c.Response(), c.Request(), "", info.CreatedAt, rc)
	return nil
}

func (e *Ecosystem) downloads(c echo.Context) error {
	var body struct {
		Downloads []Download `json:"downloads"`
	}
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 256<<10))
	if err := dec.Decode(&body); err != nil {
		return fmt.Errorf("expected {\"downloads\": [{\"name\": ..., \"version\": ...}]}: %w", errs.BadJSON(err))
	}
	if len(body.Downloads) > 500 {
		body.Downloads = body.Downloads[:500]
	}
	if err := e.svc.RecordDownloads(c.Request().Context(), c.Param("org"), body.Downloads); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "success"})
}

func (e *Ecosystem) search(c echo.Context) error {
	res, err := e.proxy.Search(c.Request().Context(), c.Param("org"), c.QueryParam("q"), c.QueryParam("type"))
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, map[string]any{"results": res, "total": len(res)})
}

func (e *Ecosystem) list(c echo.Context) error {
	filter := c.QueryParam("filter")
	if v := c.QueryParam("vendor"); v != "" && filter == "" {
		filter = strings.ToLower(v) + "/*"
	}
	names, err := e.proxy.ListNames(c.Request().Context(), c.Param("org"), filter)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, map[string]any{"packageNames": names})
}

func (e *Ecosystem) upload(c echo.Context) error {
	res, err := e.svc.Upload(c.Request().Context(), c.Param("org"), c.QueryParam("version"), c.Request().Body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res)
}

func (e *Ecosystem) webhook(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, 4<<20+1))
	if err != nil {
		return errs.Wrap(errs.ErrInvalidArgument, "reading the webhook body failed", err)
	}
	if len(body) > 4<<20 {
		return errs.TooLargef("webhook body larger than 4 MiB")
	}
	id := c.Param("id")
	if err := e.svc.VerifyWebhook(c.Request().Context(), c.Param("org"), id, c.Request().Header, body); err != nil {
		return err
	}
	if IsPing(c.Request().Header) {
		return c.JSON(http.StatusOK, map[string]string{"status": "pong"})
	}
	if err := e.svc.QueueSync(c.Request().Context(), c.Param("org"), id); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"status": "sync queued", "queued": true})
}

func (e *Ecosystem) apiPackages(c echo.Context) error {
	ps, err := e.svc.ListPackages(c.Request().Context(), c.Param("org"))
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, ps)
}

func (e *Ecosystem) apiDeleteVersion(c echo.Context) error {
	name := strings.ToLower(c.Param("vendor") + "/" + c.Param("name"))
	if err := e.svc.DeleteVersion(c.Request().Context(), c.Param("org"), name, c.Param("version")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (e *Ecosystem) apiSources(c echo.Context) error {
	srcs, err := e.svc.Sources(c.Request().Context(), c.Param("org"))
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, srcs)
}

func (e *Ecosystem) apiSync(c echo.Context) error {
	rep, err := e.svc.SyncOf(c.Request().Context(), c.Param("org"), c.Param("id"))
	if err != nil && rep.Source == "" {
		return err
	}
	status := http.StatusOK
	if rep.Error != "" {
		status = http.StatusConflict
	}
	return c.JSON(status, rep)
}
