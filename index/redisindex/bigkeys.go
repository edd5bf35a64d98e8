package redisindex

import "sync"

// bigKeys is the set of key ids an instance knows to have a list (a key's marker, once
// written, stays for the life of the index): read for every purgeable key of every lookup,
// written when a lookup or a write first meets a list. A read lock for a whole lookup's keys
// costs less than a concurrent map's load for each (and boxes no key).
type bigKeys struct {
	mu sync.RWMutex
	m  map[uint64]struct{}
}

// maxBigKnown bounds the set: past it, keys are read as if unknown (correct, one read more).
const maxBigKnown = 1 << 20

// has reports whether kid is known to be big.
func (b *bigKeys) has(kid uint64) bool {
	b.mu.RLock()
	_, ok := b.m[kid]
	b.mu.RUnlock()
	return ok
}

// known returns, for up to 64 key ids, a bit per id known to be big (bit i for kids[i]);
// with more, the first 64 only.
func (b *bigKeys) known(kids []uint64) uint64 {
	var mask uint64
	b.mu.RLock()
	if len(b.m) > 0 {
		for i, k := range kids[:min(len(kids), 64)] {
			if _, ok := b.m[k]; ok {
				mask |= 1 << i
			}
		}
	}
	b.mu.RUnlock()
	return mask
}

// add remembers that kid is big.
func (b *bigKeys) add(kid uint64) {
	b.mu.RLock()
	_, ok := b.m[kid]
	full := len(b.m) >= maxBigKnown
	b.mu.RUnlock()
	if ok || full {
		return
	}
	b.mu.Lock()
	if b.m == nil {
		b.m = map[uint64]struct{}{}
	}
	if len(b.m) < maxBigKnown {
		b.m[kid] = struct{}{}
	}
	b.mu.Unlock()
}

// clear forgets every key (the index's data was lost).
func (b *bigKeys) clear() {
	b.mu.Lock()
	b.m = nil
	b.mu.Unlock()
}
