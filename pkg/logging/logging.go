// Package logging builds packyard's zap logger from PACKYARD_LOG_LEVEL and
// PACKYARD_LOG_FORMAT and carries the request-scoped logger in a context.
package logging

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/packyard/packyard/pkg/config"
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
	return zc.Build()
}

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
