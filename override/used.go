package override

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MemoryUsed keeps spent token ids in process memory until they expire. With several gateway
// instances behind a load balancer a token could be spent once per instance: use RedisUsed
// there.
type MemoryUsed struct {
	mu    sync.Mutex
	ids   map[string]time.Time
	now   func() time.Time
	sweep time.Time
}

// NewMemoryUsed returns an empty store; now defaults to time.Now.
func NewMemoryUsed(now func() time.Time) *MemoryUsed {
	if now == nil {
		now = time.Now
	}
	return &MemoryUsed{ids: map[string]time.Time{}, now: now}
}

// Spend implements UsedStore.
func (m *MemoryUsed) Spend(_ context.Context, id string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.sweep) > time.Minute {
		for k, exp := range m.ids {
			if !now.Before(exp) {
				delete(m.ids, k)
			}
		}
		m.sweep = now
	}
	if exp, ok := m.ids[id]; ok && now.Before(exp) {
		return false, nil
	}
	m.ids[id] = until
	return true, nil
}

// Len returns how many ids are remembered (tests, metrics).
func (m *MemoryUsed) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ids)
}

// RedisUsed keeps spent token ids in Redis (SET NX with the token's remaining lifetime), shared
// by every gateway instance.
type RedisUsed struct {
	client redis.UniversalClient
	prefix string
	now    func() time.Time
}

// NewRedisUsed returns a store writing keys prefix+"override:"+id.
func NewRedisUsed(client redis.UniversalClient, prefix string) *RedisUsed {
	return &RedisUsed{client: client, prefix: prefix + "override:", now: time.Now}
}

// Spend implements UsedStore.
func (r *RedisUsed) Spend(ctx context.Context, id string, until time.Time) (bool, error) {
	ttl := until.Sub(r.now())
	if ttl < time.Second {
		ttl = time.Second
	}
	ok, err := r.client.SetNX(ctx, r.prefix+id, 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return ok, nil
}
