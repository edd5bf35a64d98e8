package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/actions"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/rules"
)

// Follow-up actions wiring (notify, merge, review) and the "not a duplicate" exceptions list.
// See docs/actions.md.

// actionsWiring carries what prepareActions built to wireActions.
type actionsWiring struct {
	dv    actions.Dataverse
	exc   *actions.Exceptions
	redis redis.UniversalClient // the index's client, when it shares one
}

// redisIndexClient is an index that shares its Redis client and key prefix (redisindex.Index):
// the exceptions set then lives next to the index.
type redisIndexClient interface {
	Client() redis.UniversalClient
	Prefix() string
}

// prepareActions builds the exceptions list and hands it to the engine. It runs once the index
// exists and before the engine is built. An engine option given by the caller
// (WithEngineOptions(rules.WithExceptions(...))) takes precedence.
func (g *Gateway) prepareActions(ctx context.Context, o *options) (*actionsWiring, error) {
	cfg := g.Config
	w := &actionsWiring{}
	if dv, ok := o.reader.(actions.Dataverse); ok {
		w.dv = dv
	} else if cfg.Dataverse.URL != "" {
		client, err := dataverse.New(ctx, cfg.Dataverse, dataverse.WithLogger(g.Log), dataverse.WithHTTPClient(g.DataverseHTTPClient()))
		if err != nil {
			return nil, err
		}
		w.dv = client
	}
	var rc redis.UniversalClient
	prefix := ""
	if actions.StoreKind(cfg) == "redis" {
		if src, ok := g.Index.(redisIndexClient); ok {
			rc, prefix = src.Client(), src.Prefix()
		}
	}
	w.redis = rc
	store, closeStore, err := actions.OpenExceptionStore(cfg, w.dv, rc, prefix)
	if err != nil {
		return nil, err
	}
	g.OnClose(closeStore)
	w.exc = actions.NewExceptions(store, g.Log)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = w.exc.Refresh(rctx)
	cancel()
	if err != nil {
		// Start anyway: an unreadable list only means known non-duplicates may be reported
		// again until the next refresh succeeds.
		g.Log.Warn("exceptions list not loaded at start; retrying every refresh", zap.Error(err))
	}
	g.Exceptions = w.exc
	var exc rules.Exceptions = w.exc
	if o.static != nil {
		exc = anyExceptions{o.static, w.exc}
	}
	o.engine = append([]rules.Option{rules.WithExceptions(exc)}, o.engine...)
	return w, nil
}

// wireActions starts the follow-up runner (engine observer + PostOperation change handler) and
// the periodic refresh of the exceptions list. It runs last, once the audit trail exists.
func (g *Gateway) wireActions(w *actionsWiring) error {
	cfg := g.Config
	rctx, cancel := context.WithCancel(context.Background())
	go w.exc.Run(rctx, cfg.Actions.Exceptions.Refresh.D())
	g.OnClose(func() error { cancel(); return nil })
	if !cfg.Actions.IsEnabled() {
		return nil
	}
	opts := []actions.Option{actions.WithLogger(g.Log), actions.WithExceptions(w.exc), actions.WithIndex(g.Index)}
	if actions.PendingKind(cfg) == "redis" {
		rc, prefix := w.redis, cfg.Index.Redis.Prefix
		if src, ok := g.Index.(redisIndexClient); ok {
			rc, prefix = src.Client(), src.Prefix()
		}
		if rc == nil {
			c, err := actions.NewRedisClient(cfg.Index.Redis)
			if err != nil {
				return fmt.Errorf("actions.pending_store redis: %w", err)
			}
			g.OnClose(c.Close)
			rc = c
		}
		opts = append(opts, actions.WithSharedPending(actions.RedisPending{Client: rc, Prefix: prefix, TTL: cfg.Actions.PendingTTL.D()}))
	}
	if g.Metrics != nil {
		m, err := actions.NewMetricsRecorder(g.Metrics.Registry)
		if err != nil {
			return err
		}
		opts = append(opts, actions.WithRecorder(m))
	}
	if g.Audit != nil {
		opts = append(opts, actions.WithRecorder(actions.AuditRecorder{Sink: g.Audit, Mask: g.Config.Audit.Masked()}))
	}
	if w.dv == nil {
		g.Log.Warn("no Dataverse connection (dataverse.url): notify, merge and review follow-ups will be recorded as failed")
	}
	r := actions.New(cfg.Actions, w.dv, g.Engine.Rules, opts...)
	r.Start()
	g.Engine.AddObserver(r)
	g.Webhook.AddChangeHandler(r)
	g.Actions = r
	g.OnClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.D())
		defer cancel()
		return r.Close(ctx)
	})
	return nil
}
