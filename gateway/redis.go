package gateway

import (
	"context"

	"github.com/dedupegate/dedupegate/index/redisindex"
)

// newRedisIndex builds the Redis index from index.redis, with the Redis metrics hook, and
// registers its readiness check ("redis": connected and answering PING). It does not connect
// here: a Redis that is down at start makes decisions follow the failure policy until it is up.
func newRedisIndex(ctx context.Context, g *Gateway) (Index, error) {
	x, err := redisindex.New(g.Config.Index.Redis,
		redisindex.WithLogger(g.Log.Named("index")),
		redisindex.WithHook(g.Metrics.RedisHook("index")))
	if err != nil {
		return nil, err
	}
	g.OnClose(x.Close)
	g.AddReadiness("redis", func(ctx context.Context) error {
		if err := x.Ready(ctx); err != nil {
			return err
		}
		return x.Client().Ping(ctx).Err()
	})
	return x, nil
}
