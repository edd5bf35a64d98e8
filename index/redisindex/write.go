package redisindex

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
)

// newEntry encodes a record and its keys, allocating codes for new names.
func (x *Index) newEntry(ctx context.Context, st *state, rec matcher.Record, keys []string) (entry, error) {
	if err := index.CheckRecord(rec); err != nil {
		return entry{}, err
	}
	tc, err := x.code(ctx, st, kindTable, rec.Entity)
	if err != nil {
		return entry{}, err
	}
	e := entry{ref: encodeRef(byte(tc), rec.ID), attrs: make([]codedAttr, 0, len(rec.Attrs))}
	for name, v := range rec.Attrs {
		c, err := x.code(ctx, st, kindAttr, name)
		if err != nil {
			return entry{}, err
		}
		e.attrs = append(e.attrs, codedAttr{code: c, value: v})
	}
	for _, k := range keys {
		if kid := keyID(k); !slices.Contains(e.kids, kid) {
			e.kids = append(e.kids, kid)
		}
	}
	return e, nil
}

// Upsert implements index.Writer; see UpsertBatch.
func (x *Index) Upsert(ctx context.Context, rec matcher.Record, keys []string) error {
	return x.UpsertBatch(ctx, []index.Entry{{Record: rec, Keys: keys}})
}

// UpsertBatch implements index.BatchWriter with four pipelined round trips per WithBatchSize
// records: read the record slots; count the records already under the keys the batch adds;
// write the entries that changed and remove stale members; add the members (and a fifth when
// a key moved to a list: take its members out of the bucket); then one to name the batch's
// records in the change feed (feed.go). A record filed again unchanged costs the read and the
// announcement.
func (x *Index) UpsertBatch(ctx context.Context, entries []index.Entry) error {
	for _, e := range entries {
		if err := index.CheckRecord(e.Record); err != nil {
			return err
		}
	}
	for len(entries) > 0 {
		n := min(len(entries), x.opt.batch)
		chunk := entries[:n]
		if err := x.retryStale(ctx, func(st *state) error { return x.upsertChunk(ctx, st, chunk) }); err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// slot is one record slot being rewritten.
type slot struct {
	rid     uint32
	updates []entry // new versions, in batch order (the last one of a ref wins)
	get     *redis.StringCmd
}

// keyAdds are the records a batch files under one key.
type keyAdds struct {
	rids   []uint32
	range_ *redis.Cmd
}

func (x *Index) upsertChunk(ctx context.Context, st *state, batch []index.Entry) error {
	slots := map[uint32]*slot{}
	var order []uint32
	for _, be := range batch {
		e, err := x.newEntry(ctx, st, be.Record, be.Keys)
		if err != nil {
			return fmt.Errorf("redisindex: %w", err)
		}
		rid := recordHash(e.ref)
		s := slots[rid]
		if s == nil {
			s = &slot{rid: rid}
			slots[rid] = s
			order = append(order, rid)
		}
		s.updates = append(s.updates, e)
	}
	defer x.lockStripes(order)()

	// 1: the slots as they are (and the epoch: the codes just used must still be valid).
	pipe := x.client.Pipeline()
	epoch := pipe.HGet(ctx, x.metaKey(), "epoch")
	for _, rid := range order {
		slots[rid].get = pipe.HGet(ctx, st.recBucket(rid), ridField(rid))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisindex: upsert: %w", err)
	}
	if err := x.checkEpoch(st, epoch); err != nil {
		return err
	}

	// The new slot values, the members to remove, and the keys each record is newly filed
	// under (a key it already had keeps its member).
	write := x.client.Pipeline()
	adds := map[uint64]*keyAdds{}
	var addOrder []uint64
	for _, rid := range order {
		s := slots[rid]
		current := x.slotEntries(s.get)
		for _, u := range s.updates {
			var old *entry
			if i := slices.IndexFunc(current, func(e entry) bool { return e.ref == u.ref }); i >= 0 {
				old = &current[i]
			}
			for _, k := range u.kids {
				if old != nil && old.hasKey(k) {
					continue
				}
				a := adds[k]
				if a == nil {
					a = &keyAdds{}
					adds[k] = a
					addOrder = append(addOrder, k)
				}
				if !slices.Contains(a.rids, rid) {
					a.rids = append(a.rids, rid)
				}
			}
			if old == nil {
				current = append(current, u)
				continue
			}
			var stale []uint64
			for _, k := range old.kids {
				if !u.hasKey(k) {
					stale = append(stale, k)
				}
			}
			*old = u
			for _, k := range stale {
				if !st.memberInUse(current, k) { // another record of the slot may share the member
					write.ZRem(ctx, st.keyBucket(k), member(k, rid))
					write.LRem(ctx, bigKey(x.prefix, k), 0, ridField(rid))
				}
			}
		}
		v := encodeEntries(current)
		if old, err := s.get.Bytes(); err == nil && bytes.Equal(old, v) {
			continue // unchanged (a re-sync): nothing to write
		}
		write.HSet(ctx, st.recBucket(rid), ridField(rid), v)
	}

	// 2: how many records the added keys have already, unless known to be big.
	check := x.client.Pipeline()
	for _, k := range addOrder {
		if x.big.has(k) {
			continue
		}
		a := adds[k]
		lo, hi := lexRange(k)
		a.range_ = check.Do(ctx, "zrangebylex", st.keyBucket(k), lo, hi, "limit", 0, bigAt+1)
	}
	if check.Len() > 0 {
		if _, err := check.Exec(ctx); err != nil {
			return fmt.Errorf("redisindex: upsert: %w", err)
		}
	}

	// 3: entries first (and stale members out), then 4: the new members: a member never
	// names a record without an entry.
	if write.Len() > 0 {
		if _, err := write.Exec(ctx); err != nil {
			return fmt.Errorf("redisindex: upsert: %w", err)
		}
	}
	add, unbucket := x.client.Pipeline(), x.client.Pipeline()
	for _, k := range addOrder {
		a := adds[k]
		toList := a.range_ == nil // known big
		var moved []uint32
		if !toList {
			members, err := a.range_.StringSlice()
			if err != nil {
				return fmt.Errorf("redisindex: upsert: %w", err)
			}
			switch {
			case len(members) > 0 && isBigMarker(members[0]):
				toList = true // the marker sorts first in the key's range
			case len(members)+len(a.rids) > bigAt:
				// The key outgrows its bucket: its records so far go to a list of its own, a
				// marker tells later writers, and new records go to the list. With at least
				// 2^16 buckets, bucket and prefix together are the whole 48-bit key id, so the
				// range holds this key's members only and they are moved out of the bucket;
				// with fewer, another key's member may share the prefix, so they are copied
				// (at most bigAt stay behind; readers merge both places).
				toList = true
				for _, m := range members {
					if rid, ok := memberRID(m); ok && !slices.Contains(a.rids, rid) {
						moved = append(moved, rid)
					}
				}
				add.ZAdd(ctx, st.keyBucket(k), redis.Z{Member: bigMarker(k)})
				if st.keyBuckets >= 1<<16 {
					for _, m := range members {
						if !isBigMarker(m) {
							unbucket.ZRem(ctx, st.keyBucket(k), m)
						}
					}
				}
			}
		}
		if !toList {
			for _, rid := range a.rids {
				add.ZAdd(ctx, st.keyBucket(k), redis.Z{Member: member(k, rid)})
			}
			continue
		}
		x.markBig(k)
		vals := make([]any, 0, len(moved)+len(a.rids))
		for _, rid := range append(moved, a.rids...) {
			vals = append(vals, ridField(rid))
		}
		add.RPush(ctx, bigKey(x.prefix, k), vals...)
	}
	if add.Len() > 0 {
		if _, err := add.Exec(ctx); err != nil {
			return fmt.Errorf("redisindex: upsert: %w", err)
		}
	}
	// 5, only when keys moved to lists: their members leave the bucket, now that the list
	// holds them.
	if unbucket.Len() > 0 {
		if _, err := unbucket.Exec(ctx); err != nil {
			return fmt.Errorf("redisindex: upsert: %w", err)
		}
	}
	// Last, the change feed names every record of the batch (feed.go).
	refs := make([]string, 0, len(batch))
	for _, rid := range order {
		for _, u := range slots[rid].updates {
			refs = append(refs, u.ref)
		}
	}
	return x.announce(ctx, refs)
}

// markBig remembers that a key has a list, sparing the count before the next add (a hint
// only: readers always read both places). The memory is bounded.
func (x *Index) markBig(kid uint64) { x.big.add(kid) }

// slotEntries decodes a slot read; an unreadable slot is dropped (its records are refiled by
// the next sync) rather than blocking every write to it.
func (x *Index) slotEntries(get *redis.StringCmd) []entry {
	v, err := get.Result()
	if err != nil {
		return nil
	}
	es, err := decodeEntries(v)
	if err != nil {
		x.log.Warn("index slot unreadable; overwritten", zap.Error(err))
		return nil
	}
	return es
}

// memberInUse reports whether an entry of a slot is filed under a key whose member in that
// slot is kid's member: the same key, or one whose bucket and prefix collide with it.
func (st *state) memberInUse(es []entry, kid uint64) bool {
	bucket, prefix := kid&(st.keyBuckets-1), keyPrefix(kid)
	for i := range es {
		for _, k := range es[i].kids {
			if k&(st.keyBuckets-1) == bucket && keyPrefix(k) == prefix {
				return true
			}
		}
	}
	return false
}

// lockStripes locks the stripes of rids in ascending order and returns the unlock.
func (x *Index) lockStripes(rids []uint32) func() {
	var want [len(x.stripes)]bool
	for _, rid := range rids {
		want[rid%uint32(len(x.stripes))] = true
	}
	var held []int
	for i, w := range want {
		if w {
			x.stripes[i].Lock()
			held = append(held, i)
		}
	}
	return func() {
		for _, i := range held {
			x.stripes[i].Unlock()
		}
	}
}

// tableCode returns the code of a table, false when no record of it was ever filed.
func (x *Index) tableCode(ctx context.Context, st *state, entity string) (uint64, bool, error) {
	if c, ok := st.names.cached(kindTable, entity); ok {
		return c, true, nil
	}
	// Maybe allocated by another instance since the codes were loaded.
	c, err := x.client.HGet(ctx, x.metaKey(), kindTable+entity).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	st.names.set(kindTable, entity, c)
	return c, true, nil
}

// Delete implements index.Writer: it removes the record's members, then its entry.
func (x *Index) Delete(ctx context.Context, entity, id string) error {
	return x.retryStale(ctx, func(st *state) error { return x.delete(ctx, st, entity, id) })
}

func (x *Index) delete(ctx context.Context, st *state, entity, id string) error {
	tc, ok, err := x.tableCode(ctx, st, entity)
	if err != nil {
		return fmt.Errorf("redisindex: delete: %w", err)
	}
	if !ok {
		return nil // no record of this table was ever filed
	}
	ref := encodeRef(byte(tc), id)
	rid := recordHash(ref)
	defer x.lockStripes([]uint32{rid})()
	rkey, field := st.recBucket(rid), ridField(rid)
	pipe := x.client.Pipeline()
	epoch := pipe.HGet(ctx, x.metaKey(), "epoch")
	get := pipe.HGet(ctx, rkey, field)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisindex: delete: %w", err)
	}
	if err := x.checkEpoch(st, epoch); err != nil {
		return err
	}
	v, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return x.announce(ctx, []string{ref}) // gone already: a retry, whose announcement may have failed
	}
	if err != nil {
		return fmt.Errorf("redisindex: delete: %w", err)
	}
	current, err := decodeEntries(v)
	if err != nil {
		x.log.Warn("index slot unreadable; removed", zap.Error(err))
		current = nil
	}
	i := slices.IndexFunc(current, func(e entry) bool { return e.ref == ref })
	if i < 0 && current != nil {
		return x.announce(ctx, []string{ref})
	}
	var gone entry
	if i >= 0 {
		gone = current[i]
		current = slices.Delete(current, i, i+1)
	}
	if len(gone.kids) > 0 {
		pipe := x.client.Pipeline()
		for _, k := range gone.kids {
			if !st.memberInUse(current, k) {
				pipe.ZRem(ctx, st.keyBucket(k), member(k, rid))
				pipe.LRem(ctx, bigKey(x.prefix, k), 0, ridField(rid))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redisindex: delete: %w", err)
		}
	}
	if len(current) == 0 {
		err = x.client.HDel(ctx, rkey, field).Err()
	} else {
		err = x.client.HSet(ctx, rkey, field, encodeEntries(current)).Err()
	}
	if err != nil {
		return fmt.Errorf("redisindex: delete: %w", err)
	}
	return x.announce(ctx, []string{ref})
}

// Watermark implements index.Watermarks.
func (x *Index) Watermark(ctx context.Context, table string) (time.Time, error) {
	if _, err := x.ensure(ctx); err != nil {
		return time.Time{}, err
	}
	v, err := x.client.HGet(ctx, x.metaKey(), "w:"+table).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("redisindex: watermark: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("redisindex: watermark of %s: %w", table, err)
	}
	return t, nil
}

// SetWatermark implements index.Watermarks.
func (x *Index) SetWatermark(ctx context.Context, table string, t time.Time) error {
	if _, err := x.ensure(ctx); err != nil {
		return err
	}
	if err := x.client.HSet(ctx, x.metaKey(), "w:"+table, t.UTC().Format(time.RFC3339Nano)).Err(); err != nil {
		return fmt.Errorf("redisindex: set watermark: %w", err)
	}
	return nil
}

// IDs implements index.Enumerator by reading every record bucket, 256 buckets per pipeline.
func (x *Index) IDs(ctx context.Context, entity string, fn func(ids []string) error) error {
	st, err := x.ensure(ctx)
	if err != nil {
		return err
	}
	tc, ok, err := x.tableCode(ctx, st, entity)
	if err != nil {
		return fmt.Errorf("redisindex: ids: %w", err)
	}
	if !ok {
		return nil
	}
	const step = 256
	for b := uint64(0); b < st.recBuckets; b += step {
		pipe := x.client.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, 0, step)
		for i := b; i < b+step && i < st.recBuckets; i++ {
			cmds = append(cmds, pipe.HGetAll(ctx, bucketKey(x.prefix, "r:", i)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redisindex: ids: %w", err)
		}
		var ids []string
		for _, c := range cmds {
			for _, v := range c.Val() {
				es, err := decodeEntries(v)
				if err != nil {
					continue
				}
				for i := range es {
					if code, id, err := decodeRef(es[i].ref); err == nil && uint64(code) == tc {
						ids = append(ids, id)
					}
				}
			}
		}
		if len(ids) > 0 {
			if err := fn(ids); err != nil {
				return err
			}
		}
	}
	return nil
}
