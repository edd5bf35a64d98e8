package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/webhook"
)

// newEcho returns an echo instance with dedupegate's edge hygiene: a request id on every
// request, a request-scoped logger carrying it and Dataverse's correlation id, panic recovery
// into a 500, access logs that never print query strings (they may carry a webhook secret), and
// JSON errors.
func newEcho(log *zap.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(log)
	e.Use(middleware.RequestID())
	e.Use(requestLogger(log))
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			webhook.LoggerFrom(c.Request().Context(), log).Error("panic recovered", zap.Error(err), zap.ByteString("stack", stack))
			return err
		},
	}))
	return e
}

// requestLogger stores a logger with request_id and correlation_id in the request context and
// writes one access line per request.
func requestLogger(log *zap.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			rid := c.Response().Header().Get(echo.HeaderXRequestID)
			ids := append(make([]zap.Field, 0, 2), zap.String("request_id", rid))
			if cid := req.Header.Get("x-ms-correlation-request-id"); cid != "" {
				ids = append(ids, zap.String("correlation_id", cid))
			}
			// The request's logger is built only if a handler logs through it (most do not:
			// a decision goes on the access line).
			l := log.WithLazy(ids...)
			ctx, line := webhook.WithAccessLine(webhook.WithLogger(req.Context(), l))
			c.SetRequest(req.WithContext(ctx))
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			// One slice, sized for the line's fields (appending to ids grew it twice).
			extra := line.Fields()
			fields := make([]zap.Field, 0, len(ids)+5+len(extra))
			fields = append(fields, ids...)
			fields = append(fields, zap.String("method", req.Method), zap.String("path", req.URL.Path),
				zap.Int("status", c.Response().Status), zap.Duration("latency", time.Since(start)),
				zap.Int64("bytes_in", req.ContentLength))
			log.Info("http", append(fields, extra...)...)
			return nil
		}
	}
}

// errorHandler answers errors that escaped a handler (404, 405, panics) as JSON.
func errorHandler(log *zap.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(status)
			}
		} else {
			webhook.LoggerFrom(c.Request().Context(), log).Error("unhandled error", zap.Error(err))
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, map[string]string{"result": "error", "error": msg})
	}
}
