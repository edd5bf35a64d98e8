package webhook

import (
	"context"

	"go.uber.org/zap"
)

type loggerKey struct{}

// WithLogger returns ctx carrying a request-scoped logger (request id, correlation id...).
func WithLogger(ctx context.Context, l *zap.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// LoggerFrom returns the request-scoped logger of ctx, or def.
func LoggerFrom(ctx context.Context, def *zap.Logger) *zap.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*zap.Logger); ok {
		return l
	}
	if def == nil {
		return zap.NewNop()
	}
	return def
}
