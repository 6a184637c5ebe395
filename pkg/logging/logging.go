// Package logging builds packyard's zap logger from PACKYARD_LOG_LEVEL and
// PACKYARD_LOG_FORMAT and carries the request-scoped logger in a context.
// The logger writes every error field with errs.Detail: the causes that
// clients are never shown (a driver's text, an address) are in the log.
package logging

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/packyard/packyard/pkg/config"
	"github.com/packyard/packyard/pkg/errs"
)

// Config selects level and format.
type Config struct {
	Level  string // debug, info, warn, error
	Format string // json, console
}

// ConfigFromEnv reads PACKYARD_LOG_LEVEL (info) and PACKYARD_LOG_FORMAT (json).
func ConfigFromEnv(l *config.Loader) Config {
	return Config{
		Level:  l.OneOf("PACKYARD_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		Format: l.OneOf("PACKYARD_LOG_FORMAT", "json", "json", "console"),
	}
}

// New builds the root logger; logs go to stderr.
func New(cfg Config) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, fmt.Errorf("PACKYARD_LOG_LEVEL: %w", err)
	}
	zc := zap.NewProductionConfig()
	if cfg.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
	}
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Sampling = nil
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.OutputPaths = []string{"stderr"}
	zc.DisableStacktrace = lvl != zapcore.DebugLevel
	return zc.Build(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return detailCore{c} }))
}

// detailCore writes error fields with errs.Detail instead of Error.
type detailCore struct{ zapcore.Core }

func (c detailCore) With(fields []zapcore.Field) zapcore.Core {
	return detailCore{c.Core.With(detailed(fields))}
}

func (c detailCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c detailCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.Core.Write(e, detailed(fields))
}

// detailed returns fields with each error whose detail says more than its
// text replaced by that detail; fields itself is not modified.
func detailed(fields []zapcore.Field) []zapcore.Field {
	var out []zapcore.Field
	for i, f := range fields {
		err, ok := f.Interface.(error)
		if f.Type != zapcore.ErrorType || !ok || err == nil {
			continue
		}
		if d := errs.Detail(err); d != err.Error() {
			if out == nil {
				out = append([]zapcore.Field(nil), fields...)
			}
			out[i] = zap.NamedError(f.Key, detailError{err: err, text: d})
		}
	}
	if out == nil {
		return fields
	}
	return out
}

// detailError is an error rendered with its detail.
type detailError struct {
	err  error
	text string
}

func (d detailError) Error() string { return d.text }
func (d detailError) Unwrap() error { return d.err }

type ctxKey struct{}

// With returns a context carrying a request-scoped logger.
func With(ctx context.Context, l *zap.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the request-scoped logger, or fallback.
func FromContext(ctx context.Context, fallback *zap.Logger) *zap.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*zap.Logger); ok {
		return l
	}
	return fallback
}
