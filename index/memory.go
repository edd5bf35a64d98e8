package index

import (
	"context"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/dedupegate/dedupegate/index/hashtab"
	"github.com/dedupegate/dedupegate/index/hugemem"
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

// Memory is the in-process index: the same behaviour as the Redis index, held in memory and
// lost on restart. It is safe for concurrent use.
//
// It is laid out for a million records and more in a garbage-collected heap: a record is a
// slot holding a few strings (its attributes encoded in one, its form in another) and the
// 64-bit hashes of its keys; a key is a hash mapped to a sorted list of slot numbers. The heap
// then holds a handful of pointers per record instead of a map of strings per record and a
// string per (key, record) pair, which the collector would trace on every cycle. Two keys
// whose 64-bit hashes collide (about one chance in 10^6 for ten million keys) share a block:
// their records are scored as candidates of both, which costs a little work, never a wrong
// decision.
//
// Most keys (an e-mail address, a phone number) name one record: the key table holds that
// record's slot itself, and only a block of two or more records has a slice of its own
// (blocks). The key table (hashtab) holds no pointers, lives outside the Go heap when large,
// and a lookup of such a key usually reads one cache line and nothing else.
type Memory struct {
	mu     sync.RWMutex
	seed   maphash.Seed
	keys   *hashtab.Table // key hash → its records (a blockRef)
	blocks [][]uint32     // record slots of blocks of two or more, ascending: a limited lookup takes a prefix
	freeB  []uint32       // unused entries of blocks
	slots  []memRecord    // record slots; a deleted record's slot is reused
	data   recordData     // the records' ids, attributes and forms
	free   []uint32
	byRef  map[string]uint32 // "entity/id" → slot

	res    map[string]reservation // strong key → holder
	marks  map[string]time.Time   // table → sync watermark
	resOps int                    // reservations since the last sweep of expired ones
	now    func() time.Time
}

// memRecord is one record slot. Its id, attributes and form are strings over recordData's
// buffers, side by side.
type memRecord struct {
	entity, id string
	attrs      string   // the attributes, encoded (PackAttrs)
	form       string   // matcher.Record.Form
	keys       []uint64 // hashes of the keys it is filed under
	live       bool
}

// recordData holds the records' strings in large buffers advised for huge pages (hugemem):
// a lookup's candidates are read at random across a million records, and each would
// otherwise cost an address-translation miss as well as a cache miss. A record replaced or
// deleted leaves its bytes behind; when those are most of the buffers, the live records are
// copied to new ones (strings handed out before keep the old buffers alive: the collector
// frees them once nothing points into them).
type recordData struct {
	bufs    [][]byte // the last one is being filled
	live    int      // bytes of live records
	garbage int      // bytes of replaced and deleted records
	// compactAt is the least garbage worth a compaction (recordBuf when zero; tests set it).
	compactAt int
}

// recordBuf is the largest buffer of record strings.
const recordBuf = 32 << 20

// put copies the strings into the buffers, side by side, and returns them as one string.
func (d *recordData) put(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return ""
	}
	if len(d.bufs) == 0 || cap(d.bufs[len(d.bufs)-1])-len(d.bufs[len(d.bufs)-1]) < n {
		size := 64 << 10 // a small index stays small; buffers double up to recordBuf
		if len(d.bufs) > 0 {
			size = min(2*cap(d.bufs[len(d.bufs)-1]), recordBuf)
		}
		d.bufs = append(d.bufs, hugemem.Bytes(max(size, n)))
	}
	b := &d.bufs[len(d.bufs)-1]
	start := len(*b)
	for _, p := range parts {
		*b = append(*b, p...)
	}
	d.live += n
	return unsafe.String(&(*b)[start], n)
}

// setRecord fills a slot, its strings copied into the buffers.
func (m *Memory) setRecord(slot uint32, entity, id, attrs, form string, keys []uint64) {
	all := m.data.put(id, attrs, form)
	m.slots[slot] = memRecord{entity: entity, id: all[:len(id)], attrs: all[len(id) : len(id)+len(attrs)],
		form: all[len(id)+len(attrs):], keys: keys, live: true}
}

// dropData counts a slot's strings as garbage (the slot is being emptied or refilled), and
// compacts the buffers when garbage is most of them.
func (m *Memory) dropData(slot uint32) {
	r := &m.slots[slot]
	n := len(r.id) + len(r.attrs) + len(r.form)
	m.data.live -= n
	m.data.garbage += n
	at := m.data.compactAt
	if at == 0 {
		at = recordBuf
	}
	if m.data.garbage < at || m.data.garbage < m.data.live {
		return
	}
	// The old buffers are freed by the collector once no string points into them.
	m.data = recordData{compactAt: m.data.compactAt}
	for i := range m.slots {
		if r := &m.slots[i]; r.live && uint32(i) != slot {
			m.setRecord(uint32(i), r.entity, r.id, r.attrs, r.form, r.keys)
		}
	}
}

// record returns the slot's record, its attributes packed (matcher.Record.Packed): no map
// is built for a candidate that is decoded from its form and never shown.
func (r *memRecord) record() matcher.Record {
	if r.attrs == "" {
		return matcher.Record{Entity: r.entity, ID: r.id, Attrs: map[string]string{}, Form: r.form}
	}
	return matcher.Record{Entity: r.entity, ID: r.id, Packed: r.attrs, Form: r.form}
}

// blockRef is a key's records: one slot itself (oneSlot set), else an index into blocks.
type blockRef uint64

const oneSlot blockRef = 1 << 63

// block returns the slots filed under key hash h, ascending; one uses buf.
func (m *Memory) block(h uint64, buf *[1]uint32) []uint32 {
	v, ok := m.keys.Get(h)
	return m.blockOf(probe{v, ok}, buf)
}

// probe is a key's entry in the key table, if any.
type probe struct {
	v  uint64
	ok bool
}

// blockOf returns the slots of a key's entry, ascending; one uses buf.
func (m *Memory) blockOf(p probe, buf *[1]uint32) []uint32 {
	b := blockRef(p.v)
	switch {
	case !p.ok:
		return nil
	case b&oneSlot != 0:
		buf[0] = uint32(b)
		return buf[:]
	}
	return m.blocks[b]
}

// setBlock files slots (ascending) under key hash h, replacing what was there.
func (m *Memory) setBlock(h uint64, slots []uint32) {
	v, had := m.keys.Get(h)
	old := blockRef(v)
	if had && old&oneSlot == 0 {
		if len(slots) >= 2 {
			m.blocks[old] = slots
			return
		}
		m.blocks[old] = nil
		m.freeB = append(m.freeB, uint32(old))
	}
	switch len(slots) {
	case 0:
		m.keys.Delete(h)
	case 1:
		m.keys.Put(h, uint64(oneSlot|blockRef(slots[0])))
	default:
		var i uint32
		if n := len(m.freeB); n > 0 {
			i, m.freeB = m.freeB[n-1], m.freeB[:n-1]
			m.blocks[i] = slots
		} else {
			i = uint32(len(m.blocks))
			m.blocks = hugemem.Append(m.blocks, slots)
		}
		m.keys.Put(h, uint64(i))
	}
}

type reservation struct {
	holder  string
	expires time.Time
}

// NewMemory returns an empty in-process index.
func NewMemory() *Memory {
	return &Memory{
		seed:  maphash.MakeSeed(),
		keys:  hashtab.New(0),
		byRef: map[string]uint32{},
		res:   map[string]reservation{},
		marks: map[string]time.Time{},
		now:   time.Now,
	}
}

func (m *Memory) keyHash(k string) uint64 { return maphash.String(m.seed, k) }

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
	// The distinct slots first (a lookup finds a few dozen: a linear set on the stack), then
	// the records, in one exactly sized slice.
	var buf [64]uint32
	found := buf[:0]
	var seen map[uint32]struct{} // past len(buf)
	// Every key's hash, then every key's table entry (hashtab.GetAll): the processor
	// overlaps their cache misses (a large index is far bigger than its caches) instead of
	// waiting on each in turn.
	var hashBuf, valBuf [32]uint64
	var okBuf [32]bool
	hashes, vals, oks := hashBuf[:0], valBuf[:], okBuf[:]
	if len(q.Keys) > len(hashBuf) {
		hashes, vals, oks = make([]uint64, 0, len(q.Keys)), make([]uint64, len(q.Keys)), make([]bool, len(q.Keys))
	}
	for _, k := range q.Keys {
		hashes = append(hashes, m.keyHash(k))
	}
	m.keys.GetAll(hashes, vals, oks)
	// The same for the blocks of keys shared by two records or more: each block's first
	// slot, in a loop of independent loads, before the blocks are read one by one.
	var touched uint32
	for i := range q.Keys {
		if b := blockRef(vals[i]); oks[i] && b&oneSlot == 0 {
			if blk := m.blocks[b]; len(blk) > 0 {
				touched ^= blk[0]
			}
		}
	}
	runtime.KeepAlive(touched)
	var one [1]uint32
	for i, k := range q.Keys {
		slots := m.blockOf(probe{vals[i], oks[i]}, &one)
		if q.SkipAt(i, len(slots)) {
			if q.Elsewhere != nil && !slices.Contains(out.Skipped, k) {
				if out.Skipped == nil {
					out.Skipped = make([]string, 0, len(q.Keys)) // one allocation, not a few
				}
				out.Skipped = append(out.Skipped, k)
			}
			continue
		}
		if limit := q.PerKeyLimit; limit > 0 && len(slots) > limit {
			slots = slots[:limit]
		}
		for _, r := range slots {
			if seen != nil {
				if _, dup := seen[r]; dup {
					continue
				}
				seen[r] = struct{}{}
			} else if slices.Contains(found, r) {
				continue
			} else if len(found) == len(buf) {
				seen = make(map[uint32]struct{}, 4*len(found))
				for _, x := range found {
					seen[x] = struct{}{}
				}
				seen[r] = struct{}{}
			}
			found = append(found, r)
		}
	}
	if len(found) > 0 {
		out.Records = slices.Grow(q.Into[:0], len(found))
		for _, r := range found {
			out.Records = append(out.Records, m.slots[r].record())
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

// ReleasesInline implements rules.InlineReleaser: Release only takes a lock.
func (m *Memory) ReleasesInline() {}

// LooksUpInline implements rules.InlineLooker: Lookup only takes a lock.
func (m *Memory) LooksUpInline() bool { return true }

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
	slot, ok := m.byRef[r]
	if ok {
		m.unfileKeys(slot)
		m.dropData(slot)
	} else {
		if n := len(m.free); n > 0 {
			slot, m.free = m.free[n-1], m.free[:n-1]
		} else {
			slot = uint32(len(m.slots))
			m.slots = hugemem.Append(m.slots, memRecord{})
		}
		m.byRef[r] = slot
	}
	filed := make([]uint64, 0, len(keys))
	var one [1]uint32
	for _, k := range keys {
		h := m.keyHash(k)
		slots := m.block(h, &one)
		if len(slots) == 0 {
			m.keys.Put(h, uint64(oneSlot|blockRef(slot)))
			filed = append(filed, h)
			continue
		}
		i, found := slices.BinarySearch(slots, slot)
		if !found {
			if len(slots) == 1 {
				slots = []uint32{slots[0]} // out of the buffer: it becomes a block
			}
			m.setBlock(h, slices.Insert(slots, i, slot))
			filed = append(filed, h)
		}
	}
	m.setRecord(slot, rec.Entity, rec.ID, matcher.PackAttrs(rec.Unpacked().Attrs), rec.Form, filed)
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
	slot, ok := m.byRef[r]
	if !ok {
		return
	}
	m.unfileKeys(slot)
	m.dropData(slot)
	m.slots[slot] = memRecord{}
	m.free = append(m.free, slot)
	delete(m.byRef, r)
}

// unfileKeys removes the slot from the blocks of the keys it is filed under.
func (m *Memory) unfileKeys(slot uint32) {
	var one [1]uint32
	for _, h := range m.slots[slot].keys {
		slots := m.block(h, &one)
		if i, found := slices.BinarySearch(slots, slot); found {
			m.setBlock(h, slices.Delete(slots, i, i+1))
		}
	}
	m.slots[slot].keys = nil
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
	for i := range m.slots {
		if r := &m.slots[i]; r.live && r.entity == entity {
			ids = append(ids, r.id)
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
	return len(m.byRef)
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
