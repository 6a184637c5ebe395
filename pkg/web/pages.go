package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"
)

// Pages is what an ecosystem (or the kernel) contributes to the web UI.
// Provide it in the fx group "web.pages" with AsPages:
//
//	fx.Provide(web.AsPages(newPages)) // func newPages(s *Service) *Pages
//
// A Pages value may also implement Counter (the home page's counts per
// organization) and Lister (a list on the organization page). Contributors
// never import each other: the kernel's home and organization pages ask
// every contributor through these interfaces.
type Pages interface {
	// Name is the contributor's stable id ("composer", "buf", "kernel").
	Name() string
	// RegisterPages adds the contributor's routes on r. It is called once,
	// in name order, before the listener opens.
	RegisterPages(r *Router) error
}

// Counter is an optional interface of Pages: how many items each
// organization holds, shown on the home page ("12 packages").
type Counter interface {
	// Noun is the plural noun of the items counted: "packages", "modules".
	Noun() string
	// Count returns the number of items of each of orgs (organization names
	// the viewer may read); an organization missing from the map has none.
	Count(ctx context.Context, orgs []string) (map[string]int, error)
}

// Lister is an optional interface of Pages: one list (a tab) on the
// organization page /{org}, searchable (?q=) and paginated (?page=&size=)
// by the kit.
type Lister interface {
	// Noun names the tab and the ?list= value: "packages", "modules".
	Noun() string
	// List returns the items of org matching q.Search, q.Offset and
	// q.Limit applied, and the total number of matching items. The viewer
	// may read org (the organization page checked it).
	List(ctx context.Context, v *Viewer, org string, q ListQuery) (List, error)
}

// Linker is an optional interface of Pages: links to the contributor's
// organization-level pages ("Git sources", "Upload"), shown on the
// organization page. It returns only the pages the viewer may open.
type Linker interface {
	OrgLinks(ctx context.Context, v *Viewer, org string) []Link
}

// Link is a named local path.
type Link struct {
	Label string
	URL   string // a local path, e.g. /acme/-/composer/sources
}

// ListQuery selects a page of a Lister's items.
type ListQuery struct {
	Search string // what the viewer typed, trimmed; "" lists all
	Offset int
	Limit  int
}

// List is one page of a Lister's items.
type List struct {
	Items []Item
	Total int    // matching items in all pages
	Empty string // what to do next when the organization has none (shown when Search is "")
}

// Item is one entry of a list: a name linking to its page.
type Item struct {
	Name        string
	URL         string // a local path, e.g. /acme/packages/acme/foo
	Description string
	Detail      string // short, e.g. "v1.2.0 · 3 versions"
}

// AsPages annotates a constructor of a Pages for the "web.pages" group.
func AsPages(constructor any) any {
	return fx.Annotate(constructor, fx.As(new(Pages)), fx.ResultTags(`group:"web.pages"`))
}

// HandlerFunc serves a page. Returning an error renders the kit's HTML
// error page for its category (401 asks to sign in and comes back).
type HandlerFunc func(c echo.Context) error

// Router registers a contributor's pages. Every route it registers runs
// behind the kit's middleware: the viewer is resolved (Authorization header
// or session cookie; ViewerOf), security headers are set, every POST is
// checked for a valid CSRF token and a same-origin request (403 page
// otherwise), form bodies are limited, and returned errors become HTML
// error pages.
type Router struct {
	site  *Site
	g     *echo.Group
	owner string
	err   error // the first route registered twice
}

// Site is the kit: rendering, sessions, the authorizer, other contributors.
func (r *Router) Site() *Site { return r.site }

// RouteOption changes how one route handles its request.
type RouteOption func(*routeConfig)

type routeConfig struct {
	multipart int64 // >0: a multipart form of at most this many bytes
}

// Multipart lets a POST route take a multipart/form-data body of at most
// maxBytes (an upload form). The kit parses it (files over 32 MiB spill to
// temporary files) and checks its CSRF field before the handler runs,
// which reads c.Request().MultipartForm. Other POST routes take
// application/x-www-form-urlencoded bodies of at most MaxFormBytes.
func Multipart(maxBytes int64) RouteOption {
	return func(c *routeConfig) { c.multipart = maxBytes }
}

// GET registers a page (HEAD too). path is an Echo path: "/:org/modules/:name".
func (r *Router) GET(path string, h HandlerFunc, opts ...RouteOption) {
	r.add(http.MethodGet, path, h, opts)
	r.add(http.MethodHead, path, h, opts)
}

// POST registers a form's target. It runs only with a valid CSRF token.
func (r *Router) POST(path string, h HandlerFunc, opts ...RouteOption) {
	r.add(http.MethodPost, path, h, opts)
}

func (r *Router) add(method, path string, h HandlerFunc, opts []RouteOption) {
	key := method + " " + path
	if other, ok := r.site.routes[key]; ok {
		if r.err == nil {
			r.err = fmt.Errorf("web: route %s registered by %q and %q", key, other, r.owner)
		}
		return
	}
	r.site.routes[key] = r.owner
	var cfg routeConfig
	for _, o := range opts {
		o(&cfg)
	}
	r.g.Add(method, path, r.site.wrap(h, cfg))
}
