package plugin

import (
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/packyard/packyard/pkg/cas"
)

// Module provides the Catalog, the Runner (also as the Catalog's Validator)
// and the plugin Config to the buf ecosystem and the admin CLI; the
// Runner's compiled modules are released when the application stops.
var Module = fx.Module("buf-plugin",
	fx.Provide(ConfigFromEnv, NewRunner, NewCatalog, func(r *Runner) Validator { return r }, func(r *Runner) Dropper { return r },
		cas.AsSweeper(func(c *Catalog) cas.RefSweeper { return c.st })),
	fx.Decorate(func(l *zap.Logger) *zap.Logger { return l.Named("plugin") }),
	fx.Invoke(func(lc fx.Lifecycle, r *Runner) { lc.Append(fx.StopHook(r.Close)) }),
)
