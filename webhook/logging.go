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

// AccessLine collects the fields a handler adds to its request's access log line, so that a
// webhook call writes one line (the access line with the decision on it) instead of two.
// A request's handlers run on one goroutine: it needs no lock.
type AccessLine struct {
	fields []zap.Field
	buf    [12]zap.Field // room for a decision's fields: the line is allocated once
}

type accessKey struct{}

// WithAccessLine returns ctx carrying a fresh access line; the middleware that calls it
// writes the line, with Fields, once the answer is sent.
func WithAccessLine(ctx context.Context) (context.Context, *AccessLine) {
	l := &AccessLine{}
	l.fields = l.buf[:0]
	return context.WithValue(ctx, accessKey{}, l), l
}

// Fields returns the fields handlers added.
func (l *AccessLine) Fields() []zap.Field { return l.fields }

// AddAccessFields adds fields to ctx's access line and reports whether ctx has one (else the
// caller logs them itself).
func AddAccessFields(ctx context.Context, fields ...zap.Field) bool {
	l, ok := ctx.Value(accessKey{}).(*AccessLine)
	if !ok {
		return false
	}
	l.fields = append(l.fields, fields...)
	return true
}
