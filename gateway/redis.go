package gateway

import (
	"context"

	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/replica"
	"github.com/dedupegate/dedupegate/rules"
)

// newRedisIndex builds the Redis index from index.redis, with the Redis metrics hook, and
// registers its readiness check ("redis": connected and answering PING). It does not connect
// here: a Redis that is down at start makes decisions follow the failure policy until it is up.
// With index.redis.replica it returns a replica of it (package replica), started by New once
// the engine exists.
func newRedisIndex(ctx context.Context, g *Gateway) (Index, error) {
	cfg := g.Config.Index.Redis
	x, err := redisindex.New(cfg,
		redisindex.WithLogger(g.Log.Named("index")),
		redisindex.WithHook(g.Metrics.RedisHook("index")),
		redisindex.WithFeedLength(cfg.FeedLength))
	if err != nil {
		return nil, err
	}
	g.OnClose(x.Close)
	if cfg.Replica {
		r := replica.New(x, func() *rules.Set { return g.Engine.Rules() }, replica.Options{Log: g.Log.Named("replica")})
		g.OnClose(r.Close) // before the store's
		g.Metrics.IndexReplica(r.Fresh,
			func() int64 { l, _ := r.Stats(); return l },
			func() int64 { _, n := r.Stats(); return n })
		g.addReadinessRedis(x)
		return r, nil
	}
	g.addReadinessRedis(x)
	return x, nil
}

// addReadinessRedis registers the "redis" readiness check: connected and answering PING.
func (g *Gateway) addReadinessRedis(x *redisindex.Index) {
	g.AddReadiness("redis", func(ctx context.Context) error {
		if err := x.Ready(ctx); err != nil {
			return err
		}
		return x.Client().Ping(ctx).Err()
	})
}
