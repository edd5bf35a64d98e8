package redisindex

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// reserveScript claims all of KEYS for holder ARGV[1] for ARGV[2] ms, or none of them: it
// returns the 1-based positions of the keys another holder has, and claims the keys only when
// there are none. The same holder (Dataverse's retry of the request) claims its keys again.
// The keys share one hash slot (reservationKey), so the script is valid in Cluster mode.
var reserveScript = redis.NewScript(`
local held = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  if v and v ~= ARGV[1] then held[#held + 1] = i end
end
if #held == 0 then
  for _, k in ipairs(KEYS) do redis.call('SET', k, ARGV[1], 'PX', ARGV[2]) end
end
return held
`)

// releaseScript drops KEYS[1] if holder ARGV[1] has it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lookup implements rules.Index in two pipelined round trips: the key ranges and the
// reservations, then the entries of the records found.
func (x *Index) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return rules.LookupResult{}, err
	}
	if len(q.Reserve) > 0 && q.Holder == "" {
		return rules.LookupResult{}, index.ErrNoHolder
	}
	if len(q.Keys) == 0 && len(q.Reserve) == 0 {
		return rules.LookupResult{}, nil
	}
	var out rules.LookupResult
	err := x.retryStale(ctx, func(st *state) error {
		var err error
		out, err = x.lookup(ctx, st, q)
		return err
	})
	return out, err
}

func (x *Index) lookup(ctx context.Context, st *state, q rules.Lookup) (rules.LookupResult, error) {
	ttl := q.TTL
	if ttl <= 0 {
		ttl = index.DefaultReservationTTL
	}

	// Round trip 1: every key's bucket range and list, and the reservations.
	keys, maxes := distinctKeys(q)
	kids := make([]uint64, len(keys))
	// A key's block is skipped when it is over the key's maximum (rules.Lookup.SkipAt, for
	// keys[i]); ReadForAt, how many of its records a read needs.
	skipAt := func(i, size int) bool {
		m := maxes[i]
		if m <= 0 {
			return false
		}
		if q.Elsewhere != nil {
			size += q.Elsewhere[keys[i]]
		}
		return size > m
	}
	// Keys over their maximum, reported in out.Skipped to a caller that counts blocks with
	// records of its own (q.Elsewhere); nil otherwise.
	var skipped []bool
	if q.Elsewhere != nil {
		skipped = make([]bool, len(keys))
	}
	skip := func(i int) {
		if skipped != nil {
			skipped[i] = true
		}
	}
	pipe := x.client.Pipeline()
	epoch := pipe.HGet(ctx, x.metaKey(), "epoch")
	ranges := make([]*redis.Cmd, len(keys))
	lists := make([]*redis.StringSliceCmd, len(keys))
	for i, k := range keys {
		kids[i] = keyID(k)
	}
	knownBig := x.big.known(kids) // one read lock for the lookup's keys
	for i := range keys {
		if m := maxes[i]; m > 0 && m < bigAt {
			if big := i < 64 && knownBig&(1<<i) != 0 || i >= 64 && x.big.has(kids[i]); big {
				// Known to have a list (its marker, once written, stays for the life of the
				// index), so over this maximum: skipped without a read, as its read would be.
				skip(i)
				continue
			}
		}
		lo, hi := lexRange(kids[i])
		args := make([]any, 4, 7)
		args[0], args[1], args[2], args[3] = "zrangebylex", st.keyBucket(kids[i]), lo, hi
		stop := int64(-1)
		limit := q.PerKeyLimit
		if maxes[i] > 0 {
			limit = maxes[i] + 1
		}
		if limit > 0 {
			args = append(args, "limit", 0, limit)
			stop = int64(limit) - 1
		}
		ranges[i] = pipe.Do(ctx, args...)
		if m := maxes[i]; m > 0 && m < bigAt {
			// A key with a list holds more than bigAt records, so it is over this maximum
			// whatever the list says: the marker in its range is enough to skip it.
			continue
		}
		lists[i] = pipe.LRange(ctx, bigKey(x.prefix, kids[i]), 0, stop)
	}
	// Releases queued since the last round trip go first, so that a key given back by an
	// earlier blocked save of this instance is free for this lookup's claim.
	x.releases.drainInto(ctx, pipe, x.prefix)
	c := x.queueClaim(ctx, pipe, st, q.Reserve, q.Holder, ttl)
	if err := x.trips.do(ctx, pipe.Cmds(), epoch); err != nil && !errors.Is(err, redis.Nil) {
		return rules.LookupResult{}, fmt.Errorf("redisindex: lookup: %w", err)
	}
	if err := x.checkEpoch(st, epoch); err != nil {
		return rules.LookupResult{}, err
	}
	var out rules.LookupResult
	var err error
	if out.Conflicts, err = x.claimed(ctx, c); err != nil {
		return rules.LookupResult{}, err
	}

	// The record slots each key names, in member order, and the distinct slots.
	named := make([][]uint32, len(keys))
	var rids []uint32
	slotOf := map[uint32]int{}
	inKey := map[uint32]bool{}
	for i, c := range ranges {
		if c == nil {
			continue // known big and over its maximum
		}
		members, err := c.StringSlice()
		if err != nil {
			return rules.LookupResult{}, fmt.Errorf("redisindex: lookup: %w", err)
		}
		var listed []string
		if lists[i] != nil {
			if listed, err = lists[i].Result(); err != nil {
				return rules.LookupResult{}, fmt.Errorf("redisindex: lookup: %w", err)
			}
		} else if len(members) > 0 && isBigMarker(members[0]) {
			x.markBig(kids[i]) // the next lookups skip it without a read
			skip(i)            // over its maximum (the marker sorts first in the key's range)
			continue
		}
		// A big key's first records may be in both places (see upsertChunk).
		clear(inKey)
		add := func(rid uint32) {
			if !inKey[rid] {
				inKey[rid] = true
				named[i] = append(named[i], rid)
			}
		}
		for _, m := range members {
			if rid, ok := memberRID(m); ok {
				add(rid)
			}
		}
		for _, l := range listed {
			if len(l) == ridLen {
				add(binary.BigEndian.Uint32([]byte(l)))
			}
		}
		// Both reads stop at ReadForAt, so a block over its maximum shows at least max+1
		// distinct records, and the key is skipped without reading them. Members of another
		// key in the range (only when the two keys' 48-bit ids collide) can make a block look
		// larger than it is; records sharing a slot, smaller (counted again below).
		if skipAt(i, len(named[i])) {
			named[i] = nil
			skip(i)
			continue
		}
		for _, rid := range named[i] {
			if _, seen := slotOf[rid]; !seen {
				slotOf[rid] = len(rids)
				rids = append(rids, rid)
			}
		}
	}
	if len(rids) == 0 {
		out.Skipped = skippedKeys(keys, skipped)
		return out, nil
	}

	// Round trip 2: the slots' entries.
	pipe = x.client.Pipeline()
	gets := make([]*redis.StringCmd, len(rids))
	for i, rid := range rids {
		gets[i] = pipe.HGet(ctx, st.recBucket(rid), ridField(rid))
	}
	if err := x.trips.do(ctx, pipe.Cmds(), nil); err != nil && !errors.Is(err, redis.Nil) {
		return rules.LookupResult{}, fmt.Errorf("redisindex: lookup records: %w", err)
	}
	slots := make([][]entry, len(rids))
	// Most slots hold one record; a contact caches up to nine attributes under about ten keys
	// (BenchmarkIndex1M: 9.85 keys a contact under the shipped rules).
	ar := &entryArena{attrs: make([]codedAttr, 0, 9*len(rids)), kids: make([]uint64, 0, 10*len(rids))}
	for i, g := range gets {
		v, err := g.Result()
		if errors.Is(err, redis.Nil) {
			x.dangling.Add(1)
			continue
		}
		if err != nil {
			return rules.LookupResult{}, fmt.Errorf("redisindex: lookup records: %w", err)
		}
		if slots[i], err = decodeEntriesIn(v, ar); err != nil {
			// One unreadable slot must not hide the other candidates.
			x.log.Warn("index slot unreadable; skipped", zap.Error(err))
		}
	}

	// Per key, in member order: the entries filed under that very key (a hash collision can
	// put other records in a slot, or other keys' members in a range), none when they are more
	// than the key's maximum, else at most PerKeyLimit of them, each record once overall.
	seen := make(map[string]bool, len(rids))
	out.Records = make([]matcher.Record, 0, len(rids))
	var own []*entry
	for i, kid := range kids {
		own = own[:0]
		for _, rid := range named[i] {
			for j := range slots[slotOf[rid]] {
				if e := &slots[slotOf[rid]][j]; e.hasKey(kid) {
					own = append(own, e)
				}
			}
		}
		if skipped != nil && skipped[i] {
			continue
		}
		if skipAt(i, len(own)) {
			skip(i)
			continue // records sharing a slot: the block is over its maximum after all
		}
		if limit := q.PerKeyLimit; limit > 0 && len(own) > limit {
			own = own[:limit]
		}
		for _, e := range own {
			if seen[e.ref] {
				continue
			}
			seen[e.ref] = true
			rec, err := x.decode(ctx, st, e)
			if errors.Is(err, errStale) {
				return rules.LookupResult{}, err
			}
			if err != nil {
				x.log.Warn("index entry unreadable; skipped", zap.Error(err))
				continue
			}
			out.Records = append(out.Records, rec)
		}
	}
	out.Skipped = skippedKeys(keys, skipped)
	return out, nil
}

// claim is a reservation claim queued in a pipeline: SET NX GET for one key where the server
// has it, the script otherwise.
type claim struct {
	keys   []string
	holder string
	ttl    time.Duration
	one    *redis.Cmd // SET NX GET
	all    *redis.Cmd // reserveScript
}

// queueClaim queues the claim of keys for holder in pipe (nothing for no keys).
func (x *Index) queueClaim(ctx context.Context, pipe redis.Pipeliner, st *state, keys []string, holder string, ttl time.Duration) claim {
	c := claim{keys: keys, holder: holder, ttl: ttl}
	switch {
	case len(keys) == 1 && st.setNXGet:
		// One key: SET NX GET claims it, and tells whose it is when it cannot.
		c.one = pipe.Do(ctx, "set", reservationKey(x.prefix, keys[0]), holder, "px", ttl.Milliseconds(), "nx", "get")
	case len(keys) > 0:
		rkeys := make([]string, len(keys))
		for i, k := range keys {
			rkeys[i] = reservationKey(x.prefix, k)
		}
		c.all = reserveScript.Eval(ctx, pipe, rkeys, holder, ttl.Milliseconds())
	}
	return c
}

// claimed returns the keys of a sent claim that another holder has.
func (x *Index) claimed(ctx context.Context, c claim) ([]string, error) {
	var conflicts []string
	if c.one != nil {
		holder, err := c.one.Text()
		switch {
		case errors.Is(err, redis.Nil):
			// Claimed.
		case err != nil:
			return nil, fmt.Errorf("redisindex: reserve: %w", err)
		case holder == c.holder:
			// The same holder's claim again (Dataverse's retry of the request): the script
			// restarts its time to live, as for a claim of several keys. Rare: a round trip
			// of its own.
			key := reservationKey(x.prefix, c.keys[0])
			held, err := reserveScript.Run(ctx, x.client, []string{key}, c.holder, c.ttl.Milliseconds()).Int64Slice()
			if err != nil {
				return nil, fmt.Errorf("redisindex: reserve: %w", err)
			}
			if len(held) > 0 { // expired in between and claimed by another
				conflicts = append(conflicts, c.keys[0])
			}
		default:
			conflicts = append(conflicts, c.keys[0])
		}
	}
	if c.all != nil {
		held, err := c.all.Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("redisindex: reserve: %w", err)
		}
		for _, i := range held {
			if i < 1 || int(i) > len(c.keys) {
				return nil, fmt.Errorf("redisindex: reserve: position %d out of range", i)
			}
			conflicts = append(conflicts, c.keys[i-1])
		}
	}
	return conflicts, nil
}

// skippedKeys returns the keys marked skipped (nil for none, or no marks).
func skippedKeys(keys []string, skipped []bool) []string {
	var out []string
	for i, s := range skipped {
		if s {
			out = append(out, keys[i])
		}
	}
	return out
}

// decode turns an entry into a record.
func (x *Index) decode(ctx context.Context, st *state, e *entry) (matcher.Record, error) {
	code, id, err := decodeRef(e.ref)
	if err != nil {
		return matcher.Record{}, err
	}
	entity, err := x.nameOf(ctx, st, kindTable, uint64(code))
	if err != nil {
		return matcher.Record{}, err
	}
	// The attributes packed (matcher.Record.Packed): one string, no map per candidate.
	var buf [24]matcher.Attr
	attrs := buf[:0]
	for _, a := range e.attrs {
		name, err := x.nameOf(ctx, st, kindAttr, a.code)
		if err != nil {
			return matcher.Record{}, err
		}
		attrs = append(attrs, matcher.Attr{Name: name, Value: a.value})
	}
	rec := matcher.Record{Entity: entity, ID: id, Packed: matcher.PackAttrList(attrs)}
	if rec.Packed == "" {
		rec.Attrs = map[string]string{}
	}
	return rec, nil
}

// Release implements rules.Index: it drops the reservations of keys that holder holds. The
// release does not take a round trip of its own: it is queued and sent with this instance's
// next lookup (ahead of that lookup's claims), or on its own after releaseDelay when no lookup
// comes, or at Close. Releasing is best effort either way (an unreleased key expires with its
// TTL), and an error of the round trip that carries it is not reported to the caller.
func (x *Index) Release(ctx context.Context, keys []string, holder string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if x.releases.add(keys, holder) {
		time.AfterFunc(releaseDelay, x.flushReleases)
	}
	return nil
}

// ReleasesInline implements rules.InlineReleaser: Release only queues.
func (x *Index) ReleasesInline() {}

// releaseDelay is how long a queued release waits for a lookup to carry it.
const releaseDelay = 50 * time.Millisecond

// flushReleases sends the queued releases, if any, in one round trip of their own.
func (x *Index) flushReleases() {
	if x.releases.empty() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := x.ensure(ctx); err != nil {
		x.log.Warn("reservations not released; they expire with their TTL", zap.Error(err))
		return
	}
	pipe := x.client.Pipeline()
	if x.releases.drainInto(ctx, pipe, x.prefix) == 0 {
		return
	}
	if _, err := pipe.Exec(ctx); err != nil {
		x.log.Warn("reservations not released; they expire with their TTL", zap.Error(err))
	}
}

// releaseQueue holds the reservations this instance gave back and has not sent yet.
type releaseQueue struct {
	mu      sync.Mutex
	pending []release
	timer   bool // a flush is scheduled
}

type release struct{ key, holder string }

// add queues keys and reports whether the caller must schedule a flush.
func (q *releaseQueue) add(keys []string, holder string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, k := range keys {
		q.pending = append(q.pending, release{k, holder})
	}
	if q.timer {
		return false
	}
	q.timer = true
	return true
}

func (q *releaseQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		q.timer = false
		return true
	}
	return false
}

// drainInto adds the queued releases to pipe and returns how many.
func (q *releaseQueue) drainInto(ctx context.Context, pipe redis.Pipeliner, prefix string) int {
	q.mu.Lock()
	rs := q.pending
	q.pending, q.timer = nil, false
	q.mu.Unlock()
	for _, r := range rs {
		releaseScript.Eval(ctx, pipe, []string{reservationKey(prefix, r.key)}, r.holder)
	}
	return len(rs)
}

// Settle implements index.Settler.
func (x *Index) Settle(ctx context.Context, keys []string) error { return x.SettleAfter(ctx, keys, 0) }

// distinctKeys returns q's keys without repeats, each with its maximum (rules.Lookup.MaxAt,
// of its first occurrence). The engine's keys are distinct already: returned as they are,
// with no map built.
func distinctKeys(q rules.Lookup) ([]string, []int) {
	keys := q.Keys
	maxes := make([]int, 0, len(keys))
	repeated := false
	for i, k := range keys {
		if len(keys) > 32 || slices.Contains(keys[:i], k) {
			repeated = true
			break
		}
		maxes = append(maxes, q.MaxAt(i))
	}
	if !repeated {
		return keys, maxes // the engine's keys: distinct already
	}
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	maxes = maxes[:0]
	for i, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
			maxes = append(maxes, q.MaxAt(i))
		}
	}
	return out, maxes
}
