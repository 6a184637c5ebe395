package composer

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/packyard/packyard/ecosystems/composer/format"
	"github.com/packyard/packyard/pkg/errs"
)

func (e *Ecosystem) registerUpstreams(g *echo.Group, read, write, admin echo.MiddlewareFunc) {
	getAndHead(g, "/:org/mirror/:vendor/:name/:file", e.mirrorDist, read)
	g.POST("/:org/security-advisories", e.securityAdvisories, read)
	getAndHead(g, "/:org/security-advisories", e.securityAdvisories, read)
	getAndHead(g, "/:org/api/upstreams", e.apiUpstreams, admin)
	g.POST("/:org/api/upstreams", e.apiAddUpstream, admin)
	g.DELETE("/:org/api/upstreams/:id", e.apiRemoveUpstream, admin)
	g.POST("/:org/api/mirror", e.apiMirror, write)
	getAndHead(g, "/:org/api/advisories", e.apiAdvisories, read)
	g.POST("/:org/api/advisories", e.apiAddAdvisory, admin)
	g.DELETE("/:org/api/advisories/:id", e.apiRemoveAdvisory, admin)
}

func (e *Ecosystem) mirrorDist(c echo.Context) error {
	file := c.Param("file")
	dot := strings.LastIndexByte(file, '.')
	name := strings.ToLower(c.Param("vendor") + "/" + c.Param("name"))
	if dot <= 0 || format.ValidatePackageName(name) != nil {
		return errs.NotFoundf("not found")
	}
	key := file[:dot]
	if !safeRef.MatchString(key) {
		return errs.NotFoundf("not found")
	}
	contentType := "application/octet-stream"
	if strings.HasSuffix(file, ".zip") {
		contentType = "application/zip"
	}
	rc, info, err := e.proxy.MirrorDist(c.Request().Context(), c.Param("org"), name, key)
	return serveArchive(c, rc, info, contentType, err)
}

func (e *Ecosystem) securityAdvisories(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, 1<<20)
	if err := req.ParseForm(); err != nil {
		return errs.Wrap(errs.ErrInvalidArgument, "expected packages[]=vendor/name form fields", err)
	}
	// Composer sends packages[0]=a/b&packages[1]=c/d (PHP's
	// http_build_query); packages[]= and packages= are read too.
	var names []string
	for k, vs := range req.Form {
		if k == "packages" || strings.HasPrefix(k, "packages[") {
			names = append(names, vs...)
		}
	}
	sort.Strings(names)
	repo := e.base.For(req) + "/composer/" + c.Param("org")
	adv, err := e.proxy.SecurityAdvisories(req.Context(), c.Param("org"), repo, names)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, map[string]any{"advisories": adv})
}

func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("JSON body: %w", errs.BadJSON(err))
	}
	return nil
}

func (e *Ecosystem) apiUpstreams(c echo.Context) error {
	ups, err := e.proxy.Upstreams(c.Request().Context(), c.Param("org"))
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, ups)
}

// upstreamRequest is the body of POST /composer/{org}/api/upstreams.
type upstreamRequest struct {
	URL       string `json:"url"`
	Packagist bool   `json:"packagist"` // the public Composer repository
	Username  string `json:"username"`
	Password  string `json:"password"`
	Priority  *int   `json:"priority"`
}

func (e *Ecosystem) apiAddUpstream(c echo.Context) error {
	var r upstreamRequest
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	in := UpstreamInput{URL: r.URL, Public: r.Packagist, Username: r.Username, Password: r.Password, Priority: r.Priority}
	u, err := e.proxy.AddUpstream(c.Request().Context(), c.Param("org"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, u)
}

func (e *Ecosystem) apiRemoveUpstream(c echo.Context) error {
	if err := e.proxy.RemoveUpstream(c.Request().Context(), c.Param("org"), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (e *Ecosystem) apiMirror(c echo.Context) error {
	var r struct {
		Package string          `json:"package"`
		Version string          `json:"version"`
		Lock    json.RawMessage `json:"lock"`
	}
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var res []MirrorResult
	var err error
	switch {
	case r.Package != "" && r.Lock != nil:
		return errs.Invalidf("give either a package or a lock file, not both")
	case r.Package != "":
		res, err = e.proxy.MirrorPackage(ctx, c.Param("org"), r.Package, r.Version)
	case r.Lock != nil:
		res, err = e.proxy.MirrorLock(ctx, c.Param("org"), r.Lock)
	default:
		return errs.Invalidf("give a package (and optionally a version) or a lock file")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

func (e *Ecosystem) apiAdvisories(c echo.Context) error {
	as, err := e.advisories(c)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, as)
}

// advisories reads the organization's advisories, of one package when the
// request names it (?package=).
func (e *Ecosystem) advisories(c echo.Context) ([]Advisory, error) {
	var names []string
	if p := c.QueryParam("package"); p != "" {
		names = []string{strings.ToLower(p)}
	}
	return e.proxy.Advisories(c.Request().Context(), c.Param("org"), names...)
}

func (e *Ecosystem) apiAddAdvisory(c echo.Context) error {
	var in AdvisoryInput
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	a, err := e.proxy.AddAdvisory(c.Request().Context(), c.Param("org"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, a)
}

func (e *Ecosystem) apiRemoveAdvisory(c echo.Context) error {
	if err := e.proxy.RemoveAdvisory(c.Request().Context(), c.Param("org"), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
