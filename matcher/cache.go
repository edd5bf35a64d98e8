package matcher

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// DefaultCandidateCache is the number of prepared candidates a rule keeps by default.
const DefaultCandidateCache = 10_000

// candidateCache keeps prepared candidates by table and id, each with a fingerprint of the
// attribute values it was prepared from: a candidate whose values changed is prepared again.
// It is sharded to keep lock contention low and forgets a whole shard when that shard is full
// (cheap, and good enough for the hot set a busy table cycles through).
type candidateCache struct {
	shards [16]cacheShard
	per    int
	seed   maphash.Seed
	// seen admits candidates to the cache on their second coming: a slot per id hash holding
	// a tag of the last id that hashed there.
	seen [1 << 14]atomic.Uint32
}

// again reports whether rec was seen lately (its tag is in its slot), and marks it seen. A
// collision only costs a cache entry's worth of preparation.
func (c *candidateCache) again(rec Record) bool {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(rec.Entity)
	h.WriteByte('/')
	h.WriteString(rec.ID)
	sum := h.Sum64()
	slot := &c.seen[sum&uint64(len(c.seen)-1)]
	tag := uint32(sum>>32) | 1
	if slot.Load() == tag {
		return true
	}
	slot.Store(tag)
	return false
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]cacheEntry
}

type cacheEntry struct {
	fp uint64
	p  *Prepared
}

func newCandidateCache(size int) *candidateCache {
	if size <= 0 {
		return nil
	}
	per := size / 16
	if per < 1 {
		per = 1
	}
	return &candidateCache{per: per, seed: maphash.MakeSeed()}
}

// fingerprint hashes the values of the attributes the rule reads from a candidate.
func (c *candidateCache) fingerprint(r *Rule, rec Record) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	for i := range r.fields {
		v, _ := rec.Attr(r.fields[i].candAttr)
		h.WriteString(v)
		h.WriteByte(0)
	}
	if r.spec.CountryAttr != "" {
		v, _ := rec.Attr(r.spec.CountryAttr)
		h.WriteString(v)
	}
	return h.Sum64()
}

func (c *candidateCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

func (c *candidateCache) get(key string, fp uint64) *Prepared {
	s := c.shard(key)
	s.mu.RLock()
	e, ok := s.m[key]
	s.mu.RUnlock()
	if ok && e.fp == fp {
		return e.p
	}
	return nil
}

func (c *candidateCache) put(key string, fp uint64, p *Prepared) {
	s := c.shard(key)
	s.mu.Lock()
	if s.m == nil || len(s.m) >= c.per {
		s.m = make(map[string]cacheEntry, c.per/4+1)
	}
	s.m[key] = cacheEntry{fp: fp, p: p}
	s.mu.Unlock()
}
