package override_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/override"
	"github.com/dedupegate/dedupegate/rules"
)

// Two gateway instances sharing one Redis: a token spent on one is a replay on the other.
func TestRedisUsedAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	newInstance := func() *override.Tokens {
		c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{srv.Addr}})
		t.Cleanup(func() { _ = c.Close() })
		tk, err := override.New(override.Config{Secret: []byte(secret), Used: override.NewRedisUsed(c, "dgtest:")})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	a, b := newInstance(), newInstance()
	ms := []rules.Match{blockMatch(dupID)}
	tok := issue(t, a, oid, ms)
	if err := b.Verify(ctx, tok, req(record()), ms); err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(ctx, tok, req(record()), ms); !errors.Is(err, override.ErrReplayed) {
		t.Fatalf("replay on the other instance: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	keys, err := c.Keys(ctx, "dgtest:override:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	ttl, err := c.TTL(ctx, keys[0]).Result()
	if err != nil || ttl <= 0 || ttl > a.TTL() {
		t.Fatalf("spent id kept for %v, want (0, %v]", ttl, a.TTL())
	}
}
