package gateway

import (
	"context"
	"errors"
)

// newRedisIndex builds the Redis index (wired when index/redisindex lands).
func newRedisIndex(ctx context.Context, g *Gateway) (Index, error) {
	return nil, errors.New("the redis index backend is not built yet")
}
