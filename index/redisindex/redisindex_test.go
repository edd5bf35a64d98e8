package redisindex_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"testing"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index/indextest"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
)

// quiet drops go-redis's own log lines (connection refused while a test has Redis down).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

// newIndex returns a ready index over addrs under a prefix of its own.
func newIndex(t testing.TB, addrs []string, opts ...redisindex.Option) *redisindex.Index {
	t.Helper()
	x, err := redisindex.New(config.Redis{Addrs: addrs, Prefix: redistest.Prefix(t)}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	if err := x.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestStandaloneConformance(t *testing.T) {
	addr := redistest.Standalone(t)
	for _, buckets := range []int{1, 1024, redisindex.DefaultBuckets} {
		t.Run(fmt.Sprintf("buckets=%d", buckets), func(t *testing.T) {
			indextest.Run(t, func(t *testing.T) indextest.Index {
				return newIndex(t, []string{addr}, redisindex.WithBuckets(buckets))
			})
		})
	}
}

func TestClusterConformance(t *testing.T) {
	addrs := redistest.Cluster(t)
	t.Run("seed list", func(t *testing.T) {
		indextest.Run(t, func(t *testing.T) indextest.Index {
			return newIndex(t, addrs, redisindex.WithBuckets(256))
		})
	})
	t.Run("one address, cluster detected", func(t *testing.T) {
		indextest.Run(t, func(t *testing.T) indextest.Index {
			return newIndex(t, addrs[1:2], redisindex.WithBuckets(256))
		})
	})
}

func TestSentinelConformance(t *testing.T) {
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	indextest.Run(t, func(t *testing.T) indextest.Index {
		x, err := redisindex.New(config.Redis{Addrs: []string{sentinel}, MasterName: "mymaster", Prefix: redistest.Prefix(t)}, redisindex.WithBuckets(64))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = x.Close() })
		if err := x.Ready(t.Context()); err != nil {
			t.Fatal(err)
		}
		return x
	})
}
