package sdk

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/mod/module"

	"github.com/packyard/packyard/pkg/errs"
	"github.com/packyard/packyard/pkg/server"
)

// proxyRequest is a Go module proxy request, parsed: the module and what
// is asked of it.
type proxyRequest struct {
	Module ModulePath
	Kind   string // "list", "latest", "info", "mod", "zip"
	Query  string // the version or query of info, mod and zip
}

// ParseProxyPath reads the path after {base}/gen/go/ of a Go module proxy
// request for a module under host: {module}/@v/list, {module}/@latest and
// {module}/@v/{version}.{info,mod,zip}, with the proxy protocol's case
// encoding. Anything else is errs.ErrNotFound.
func ParseProxyPath(host, p string) (proxyRequest, error) {
	escMod, rest, ok := strings.Cut(p, "/@")
	if !ok {
		return proxyRequest{}, errs.NotFoundf("not a Go module proxy path")
	}
	mod, err := module.UnescapePath(escMod)
	if err != nil {
		return proxyRequest{}, errs.NotFoundf("not a Go module proxy path")
	}
	mp, err := ParseModulePath(host, mod)
	if err != nil {
		return proxyRequest{}, err
	}
	r := proxyRequest{Module: mp}
	switch {
	case rest == "v/list":
		r.Kind = "list"
	case rest == "latest":
		r.Kind = "latest"
	case strings.HasPrefix(rest, "v/"):
		file := strings.TrimPrefix(rest, "v/")
		dot := strings.LastIndexByte(file, '.')
		if dot <= 0 || strings.Contains(file, "/") {
			return proxyRequest{}, errs.NotFoundf("not a Go module proxy path")
		}
		r.Kind = file[dot+1:]
		if r.Kind != "info" && r.Kind != "mod" && r.Kind != "zip" {
			return proxyRequest{}, errs.NotFoundf("not a Go module proxy path")
		}
		if r.Query, err = module.UnescapeVersion(file[:dot]); err != nil {
			return proxyRequest{}, errs.NotFoundf("not a Go module proxy path")
		}
	default:
		return proxyRequest{}, errs.NotFoundf("not a Go module proxy path")
	}
	return r, nil
}

// handlers serves the proxy.
type handlers struct {
	s    *Service
	base server.BaseURL
}

// host is the SDK host for a request: the configured one, else the host
// the request was addressed to.
func (h handlers) host(r *http.Request) (string, error) {
	if h.s.cfg.Host != "" {
		return h.s.cfg.Host, nil
	}
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	host = strings.ToLower(host)
	if err := ValidateHost(host); err != nil {
		return "", errs.NotFoundf("set PACKYARD_BUF_SDK_HOST: %q cannot begin a Go module path", host)
	}
	return host, nil
}

// serve answers every GET and HEAD under /gen/go/.
func (h handlers) serve(c echo.Context) error {
	r := c.Request()
	host, err := h.host(r)
	if err != nil {
		return err
	}
	rest := strings.TrimPrefix(r.URL.Path, "/gen/go/")
	if r.URL.Query().Get("go-get") == "1" {
		return h.goImport(c, host, rest)
	}
	req, err := ParseProxyPath(host, rest)
	if err != nil {
		return err
	}
	ctx := r.Context()
	c.Response().Header().Set("Cache-Control", "private, no-cache")
	switch req.Kind {
	case "list":
		vs, err := h.s.List(ctx, req.Module)
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, v := range vs {
			b.WriteString(v + "\n")
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
	case "latest", "info":
		var info Info
		if req.Kind == "latest" {
			info, err = h.s.Latest(ctx, req.Module)
		} else {
			info, err = h.s.Info(ctx, req.Module, req.Query)
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"Version": info.Version, "Time": info.Time.Format(time.RFC3339)})
	case "mod":
		mod, err := h.s.GoMod(ctx, req.Module, req.Query)
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", mod)
	}
	z, err := h.s.Zip(ctx, req.Module, req.Query)
	if err != nil {
		return err
	}
	defer z.Close()
	c.Response().Header().Set("Content-Type", "application/zip")
	c.Response().Header().Set("ETag", `"`+z.Digest+`"`)
	http.ServeContent(c.Response(), r, "", z.ModTime, z.ReadSeekCloser)
	return nil
}

// goImport answers ?go-get=1 for a module's path or a package inside it
// (requested at the SDK host, so without it): the go-import meta tag that
// sends the Go command to this proxy.
func (h handlers) goImport(c echo.Context, host, rest string) error {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts) < 4 {
		return errs.NotFoundf("not an SDK module path")
	}
	mp, err := ParseModulePath(host, host+genGo+strings.Join(parts[:4], "/"))
	if err != nil {
		return err
	}
	body := fmt.Sprintf("<!DOCTYPE html>\n<html><head><meta name=\"go-import\" content=\"%s mod %s\"></head><body></body></html>\n",
		html.EscapeString(mp.String()), html.EscapeString(h.base.For(c.Request())+"/gen/go"))
	return c.HTMLBlob(http.StatusOK, []byte(body))
}
