package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/admin"
	"github.com/dedupegate/dedupegate/audit"
)

// Governance wiring: Prometheus metrics (GET /metrics), the audit trail, and the admin
// dashboard (GET /ui, GET /api/v1/audit, GET /api/v1/stats). See docs/governance.md.

// indexSizer and reservationCounter are what an index may offer for the index-size and
// reservations gauges (index.Memory offers both). They run on each scrape.
type indexSizer interface{ Len() int }
type reservationCounter interface{ Reservations() int }

// redisClientSource is an index that shares its Redis client (redisindex.Index): the audit
// stream then lives in the same Redis, written through the same client.
type redisClientSource interface {
	Ready(ctx context.Context) error
	Client() redis.UniversalClient
}

// apiAuth holds the check API's authentication middleware, set by the check API wiring with
// SetAPIAuth; the admin JSON routes use it (and refuse every request until it is set).
type apiAuth struct {
	mu sync.RWMutex
	mw echo.MiddlewareFunc
}

// SetAPIAuth sets the middleware that authenticates API callers (Entra token, API key). The
// admin dashboard's JSON routes sit behind it.
func (g *Gateway) SetAPIAuth(mw echo.MiddlewareFunc) {
	g.auth.mu.Lock()
	g.auth.mw = mw
	g.auth.mu.Unlock()
}

func (g *Gateway) authMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		g.auth.mu.RLock()
		mw := g.auth.mw
		g.auth.mu.RUnlock()
		if mw == nil {
			return echo.NewHTTPError(http.StatusForbidden,
				"the audit API needs the check API's authentication: configure check_api.api_keys (DEDUPEGATE_API_KEYS) or check_api.entra")
		}
		return mw(next)(c)
	}
}

// DataverseHTTPClient returns an HTTP client for the Dataverse client whose requests are timed
// and counted in the dependency metrics (dependency="dataverse"). Pass it with
// dataverse.WithHTTPClient wherever the gateway builds a Dataverse client.
func (g *Gateway) DataverseHTTPClient() *http.Client {
	return &http.Client{Transport: g.Metrics.RoundTripper("dataverse", nil)}
}

// wireGovernance adds the metrics and audit observers to the engine and mounts /metrics and
// the dashboard. It runs once the engine and the echo instance exist.
func (g *Gateway) wireGovernance(ctx context.Context) error {
	m := g.Metrics
	g.Engine.AddObserver(m)
	if s, ok := g.Index.(indexSizer); ok {
		m.IndexSize(func() float64 { return float64(s.Len()) })
	}
	if r, ok := g.Index.(reservationCounter); ok {
		m.ReservationsHeld(func() float64 { return float64(r.Reservations()) })
	}

	cfg := g.Config.Audit
	storeName := ""
	if cfg.On() {
		var store audit.Store
		switch storeName = g.Config.AuditStore(); storeName {
		case "redis":
			src, ok := g.Index.(redisClientSource)
			if !ok {
				return fmt.Errorf("audit.store redis needs the redis index backend (index.backend: redis)")
			}
			store = audit.NewRedisStoreFunc(func(ctx context.Context) (redis.UniversalClient, error) {
				if err := src.Ready(ctx); err != nil {
					return nil, err
				}
				return src.Client(), nil
			}, g.Config.AuditStreamKey(), cfg.MaxLen)
		default:
			store = audit.NewRing(cfg.RingSize)
		}
		g.Audit = audit.New(store, g.Log.Named("audit"), audit.Options{
			Buffer: cfg.Buffer, Mask: cfg.Masked(), Log: cfg.Logged(),
			Dropped: m.AuditDropped, WriteErrors: m.AuditWriteErrors,
			Accepted: func(k audit.Kind) { m.AuditEntries.WithLabelValues(string(k)).Inc() },
		})
		g.Engine.AddObserver(g.Audit)
		g.OnClose(func() error {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return g.Audit.Close(cctx)
		})
		g.Log.Info("audit trail on", zap.String("store", storeName), zap.Bool("mask_personal_data", cfg.Masked()))
	}

	g.Echo.GET("/metrics", echo.WrapHandler(m.Handler()))
	ac := admin.Config{Store: storeName, Auth: g.authMiddleware, Health: g.Readiness}
	if g.Audit != nil {
		ac.Trail = g.Audit
	}
	admin.Mount(g.Echo, ac)
	return nil
}
