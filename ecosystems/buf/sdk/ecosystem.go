package sdk

import (
	"context"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/server"
)

// Ecosystem registers the SDK proxy's routes.
type Ecosystem struct {
	s       *Service
	h       handlers
	resolve resolveMethods
}

var _ ecosystem.Ecosystem = (*Ecosystem)(nil)

// NewEcosystem returns the SDK proxy over s.
func NewEcosystem(s *Service, base server.BaseURL) (*Ecosystem, error) {
	m, err := newResolveMethods(context.Background())
	if err != nil {
		return nil, err
	}
	return &Ecosystem{s: s, h: handlers{s: s, base: base}, resolve: m}, nil
}

// Name is "buf-sdk".
func (e *Ecosystem) Name() string { return "buf-sdk" }

// Register mounts the Go module proxy at /gen/go and ResolveService's
// SDK methods at the root, where the buf CLI calls them. Access is decided
// per module and plugin by the buf registry's read rules.
func (e *Ecosystem) Register(r ecosystem.Router) error {
	g := r.Group("/gen/go")
	g.GET("/*", e.h.serve)
	g.HEAD("/*", e.h.serve)
	for path, h := range e.resolveHandlers(r.ConnectOptions()...) {
		r.Handle(path, h)
	}
	return nil
}

// Module provides the SDK proxy to packyard's fx application, next to the
// buf ecosystem's module, whose plugin catalog and runner it uses.
var Module = fx.Module("buf-sdk",
	fx.Provide(fx.Private, ConfigFromEnv),
	fx.Provide(fx.Private,
		func(c *plugin.Catalog) Catalog { return c },
		func(r *plugin.Runner) Runner { return r },
		func() RequestFunc { return plugin.NewRequest },
	),
	fx.Provide(New, ecosystem.As(NewEcosystem)),
	fx.Decorate(func(l *zap.Logger) *zap.Logger { return l.Named("buf-sdk") }),
)
