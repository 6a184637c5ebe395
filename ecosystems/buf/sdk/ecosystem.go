package sdk

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/ecosystems/buf/plugin"
	"github.com/packyard/packyard/pkg/ecosystem"
	"github.com/packyard/packyard/pkg/server"
)

// Ecosystem registers the SDK proxy's routes.
type Ecosystem struct {
	s *Service
	h handlers
}

var _ ecosystem.Ecosystem = (*Ecosystem)(nil)

// NewEcosystem returns the SDK proxy over s.
func NewEcosystem(s *Service, base server.BaseURL) *Ecosystem {
	return &Ecosystem{s: s, h: handlers{s: s, base: base}}
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
	r.Handle(e.resolveHandler(r.ConnectOptions()...))
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
