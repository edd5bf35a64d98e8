package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// zapRedisLogger routes go-redis's own log lines (connection pool dial failures) into zap at
// debug level: a Redis outage is already reported once per decision by the failure policy's
// log line, by the metrics and by /readyz, and these lines would otherwise flood stderr.
type zapRedisLogger struct{ log *zap.Logger }

func (l zapRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

// routeRedisLogs installs the adapter for the process (go-redis has one global logger).
func routeRedisLogs(log *zap.Logger) { redis.SetLogger(zapRedisLogger{log: log.Named("redis")}) }
