package index

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Writer keeps an index up to date with committed changes.
type Writer interface {
	// Upsert files rec under keys, replacing whatever it was filed under before.
	Upsert(ctx context.Context, rec matcher.Record, keys []string) error
	// Delete removes a record and its keys.
	Delete(ctx context.Context, entity, id string) error
}

var (
	_ rules.Index = (*Memory)(nil)
	_ Writer      = (*Memory)(nil)
)

// Memory is the in-process index. It is safe for concurrent use.
type Memory struct {
	mu      sync.RWMutex
	keys    map[string]map[string]struct{} // key → record refs ("entity/id")
	records map[string]memRecord           // ref → record
	res     map[string]reservation         // strong key → holder
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
		keys:    map[string]map[string]struct{}{},
		records: map[string]memRecord{},
		res:     map[string]reservation{},
		now:     time.Now,
	}
}

func ref(entity, id string) string { return entity + "/" + id }

// Lookup implements rules.Index.
func (m *Memory) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return rules.LookupResult{}, err
	}
	var out rules.LookupResult
	if len(q.Reserve) > 0 {
		m.mu.Lock()
		now := m.now()
		for _, k := range q.Reserve {
			r, ok := m.res[k]
			if ok && r.holder != q.Holder && now.Before(r.expires) {
				out.Conflicts = append(out.Conflicts, k)
				continue
			}
			m.res[k] = reservation{holder: q.Holder, expires: now.Add(q.TTL)}
		}
		m.mu.Unlock()
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	seen := map[string]bool{}
	for _, k := range q.Keys {
		ids := m.keys[k]
		refs := make([]string, 0, len(ids))
		for r := range ids {
			refs = append(refs, r)
		}
		sort.Strings(refs)
		if q.PerKeyLimit > 0 && len(refs) > q.PerKeyLimit {
			refs = refs[:q.PerKeyLimit]
		}
		for _, r := range refs {
			if seen[r] {
				continue
			}
			seen[r] = true
			out.Records = append(out.Records, cloneRecord(m.records[r].rec))
		}
	}
	return out, nil
}

// Release implements rules.Index.
func (m *Memory) Release(ctx context.Context, keys []string, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		if r, ok := m.res[k]; ok && r.holder == holder {
			delete(m.res, k)
		}
	}
	return nil
}

// Upsert implements Writer.
func (m *Memory) Upsert(ctx context.Context, rec matcher.Record, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := ref(rec.Entity, rec.ID)
	m.unfile(r)
	for _, k := range keys {
		set := m.keys[k]
		if set == nil {
			set = map[string]struct{}{}
			m.keys[k] = set
		}
		set[r] = struct{}{}
	}
	m.records[r] = memRecord{rec: cloneRecord(rec), keys: append([]string(nil), keys...)}
	return nil
}

// Delete implements Writer.
func (m *Memory) Delete(ctx context.Context, entity, id string) error {
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
		delete(m.keys[k], r)
		if len(m.keys[k]) == 0 {
			delete(m.keys, k)
		}
	}
	delete(m.records, r)
}

// Len returns the number of records held.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.records)
}

func cloneRecord(r matcher.Record) matcher.Record {
	attrs := make(map[string]string, len(r.Attrs))
	for k, v := range r.Attrs {
		attrs[k] = v
	}
	r.Attrs = attrs
	return r
}
