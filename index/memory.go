package index

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

var (
	_ rules.Index = (*Memory)(nil)
	_ Writer      = (*Memory)(nil)
	_ BatchWriter = (*Memory)(nil)
	_ Settler     = (*Memory)(nil)
	_ Watermarks  = (*Memory)(nil)
	_ Enumerator  = (*Memory)(nil)
)

// Memory is the in-process index: the same behaviour as the Redis index, held in maps and
// lost on restart. It is safe for concurrent use.
type Memory struct {
	mu   sync.RWMutex
	keys map[string][]string // key → record refs ("entity/id"), sorted: a lookup takes a prefix

	records map[string]memRecord   // ref → record
	res     map[string]reservation // strong key → holder
	marks   map[string]time.Time   // table → sync watermark
	resOps  int                    // reservations since the last sweep of expired ones
	now     func() time.Time
}

type memRecord struct {
	rec  matcher.Record
	keys []string
}

type reservation struct {
	holder  string
	expires time.Time
}

// NewMemory returns an empty in-process index.
func NewMemory() *Memory {
	return &Memory{
		keys:    map[string][]string{},
		records: map[string]memRecord{},
		res:     map[string]reservation{},
		marks:   map[string]time.Time{},
		now:     time.Now,
	}
}

func ref(entity, id string) string { return entity + "/" + id }

// Lookup implements rules.Index: the records filed under q.Keys (none for a key q skips, at
// most q.PerKeyLimit per key when positive, each record once) and q's reservations, all or nothing: when another
// holder has any of q.Reserve, those keys are reported and none is claimed.
func (m *Memory) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return rules.LookupResult{}, err
	}
	var out rules.LookupResult
	if len(q.Reserve) > 0 {
		if q.Holder == "" {
			return rules.LookupResult{}, ErrNoHolder
		}
		ttl := q.TTL
		if ttl <= 0 {
			ttl = DefaultReservationTTL
		}
		m.mu.Lock()
		now := m.now()
		for _, k := range q.Reserve {
			if r, ok := m.res[k]; ok && r.holder != q.Holder && now.Before(r.expires) {
				out.Conflicts = append(out.Conflicts, k)
			}
		}
		if len(out.Conflicts) == 0 {
			for _, k := range q.Reserve {
				m.res[k] = reservation{holder: q.Holder, expires: now.Add(ttl)}
			}
		}
		m.sweepLocked(now, len(q.Reserve))
		m.mu.Unlock()
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	seen := map[string]bool{}
	for _, k := range q.Keys {
		refs := m.keys[k]
		if q.Skip(k, len(refs)) {
			continue
		}
		if limit := q.PerKeyLimit; limit > 0 && len(refs) > limit {
			refs = refs[:limit]
		}
		for _, r := range refs {
			if seen[r] {
				continue
			}
			seen[r] = true
			out.Records = append(out.Records, cloneRecord(m.records[r].rec)) // the caller's to keep
		}
	}
	return out, nil
}

// sweepLocked drops expired reservations now and then, so that the map does not grow with
// every create ever checked. m.mu must be held for writing.
func (m *Memory) sweepLocked(now time.Time, n int) {
	m.resOps += n
	if m.resOps < 1024 || m.resOps < len(m.res) {
		return
	}
	m.resOps = 0
	for k, r := range m.res {
		if !now.Before(r.expires) {
			delete(m.res, k)
		}
	}
}

// Release implements rules.Index: it drops the reservations of keys that holder holds.
func (m *Memory) Release(ctx context.Context, keys []string, holder string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if r, ok := m.res[k]; ok && r.holder == holder {
			delete(m.res, k)
		}
	}
	return nil
}

// Settle implements Settler.
func (m *Memory) Settle(ctx context.Context, keys []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.res, k)
	}
	return nil
}

// Upsert implements Writer.
func (m *Memory) Upsert(ctx context.Context, rec matcher.Record, keys []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckRecord(rec); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.upsertLocked(rec, keys)
	return nil
}

// UpsertBatch implements BatchWriter.
func (m *Memory) UpsertBatch(ctx context.Context, entries []Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		if err := CheckRecord(e.Record); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range entries {
		m.upsertLocked(e.Record, e.Keys)
	}
	return nil
}

func (m *Memory) upsertLocked(rec matcher.Record, keys []string) {
	r := ref(rec.Entity, rec.ID)
	m.unfile(r)
	filed := make([]string, 0, len(keys))
	for _, k := range keys {
		refs := m.keys[k]
		i, found := slices.BinarySearch(refs, r)
		if !found {
			m.keys[k] = slices.Insert(refs, i, r)
			filed = append(filed, k)
		}
	}
	m.records[r] = memRecord{rec: cloneRecord(rec), keys: filed}
}

// Delete implements Writer.
func (m *Memory) Delete(ctx context.Context, entity, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unfile(ref(entity, id))
	return nil
}

func (m *Memory) unfile(r string) {
	old, ok := m.records[r]
	if !ok {
		return
	}
	for _, k := range old.keys {
		refs := m.keys[k]
		if i, found := slices.BinarySearch(refs, r); found {
			refs = slices.Delete(refs, i, i+1)
		}
		if len(refs) == 0 {
			delete(m.keys, k)
		} else {
			m.keys[k] = refs
		}
	}
	delete(m.records, r)
}

// Watermark implements Watermarks.
func (m *Memory) Watermark(ctx context.Context, table string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.marks[table], nil
}

// SetWatermark implements Watermarks.
func (m *Memory) SetWatermark(ctx context.Context, table string, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.marks[table] = t.UTC()
	return nil
}

// IDs implements Enumerator.
func (m *Memory) IDs(ctx context.Context, entity string, fn func(ids []string) error) error {
	m.mu.RLock()
	var ids []string
	for _, r := range m.records {
		if r.rec.Entity == entity {
			ids = append(ids, r.rec.ID)
		}
	}
	m.mu.RUnlock()
	for len(ids) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(ids), 1000)
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// Len returns the number of records held.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.records)
}

// Reservations returns the number of unexpired strong-key reservations (the metrics gauge).
func (m *Memory) Reservations() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	now, n := m.now(), 0
	for _, r := range m.res {
		if now.Before(r.expires) {
			n++
		}
	}
	return n
}

func cloneRecord(r matcher.Record) matcher.Record {
	attrs := make(map[string]string, len(r.Attrs))
	for k, v := range r.Attrs {
		attrs[k] = v
	}
	r.Attrs = attrs
	return r
}
