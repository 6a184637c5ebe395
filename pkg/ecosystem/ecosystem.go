// Package ecosystem is the plug-in contract between packyard's kernel and
// its ecosystems (composer, buf). An ecosystem is provided into the fx value
// group "ecosystems" with As, and registers its routes once, before the
// listener opens. Ecosystems never import each other or cmd.
package ecosystem

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"connectrpc.com/connect"
	"github.com/labstack/echo/v4"
	"github.com/packyard/packyard/pkg/access"
	"go.uber.org/fx"
)

// Ecosystem is one package format served by packyard.
type Ecosystem interface {
	// Name is the stable id used in URLs, metrics, logs and table prefixes.
	Name() string
	// Register adds the ecosystem's routes. It is called once, in name order.
	Register(r Router) error
}

// Router is what an ecosystem may register routes on.
type Router interface {
	// Group returns an Echo group under prefix (e.g. "/composer"). The
	// kernel's middleware (request id, access log, authentication, metrics)
	// already wraps every request.
	Group(prefix string, m ...echo.MiddlewareFunc) *echo.Group
	// Handle registers a plain handler on the outer mux, outside Echo:
	// Connect handlers (path, handler) and anything Echo must not touch.
	Handle(pattern string, h http.Handler)
	// ConnectOptions are the kernel's handler options for Connect services:
	// error mapping, read limits, compression.
	ConnectOptions() []connect.HandlerOption
	// Require is Echo middleware that authorizes action on the resource the
	// request names, and renders the kernel's 401/403/404 when refused.
	Require(a access.Action, res func(echo.Context) access.Resource) echo.MiddlewareFunc
}

// As annotates an ecosystem constructor for the "ecosystems" value group.
func As(constructor any) any {
	return fx.Annotate(constructor, fx.As(new(Ecosystem)), fx.ResultTags(`group:"ecosystems"`))
}

// Invoker runs fn with its parameters injected from a packyard application
// made of the kernel (database, blob store, CAS, cache, auth; no listener)
// and every ecosystem module, the way fx.Invoke does, then stops it. The
// admin CLI gives one to each ecosystem's commands:
//
//	invoke(ctx, func(s *composer.Service) error { return s.Sync(ctx, org) })
type Invoker func(ctx context.Context, fn any) error

// PrintJSON writes v as the admin CLI prints every --json answer: indented
// JSON followed by a newline, so ecosystems' commands and the kernel's read
// the same way in scripts.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
