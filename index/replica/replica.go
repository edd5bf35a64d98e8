// Package replica keeps a copy of the shared Redis index in a gateway's memory, so that a
// decision reads its candidates without a Redis round trip while Redis stays the one store
// every instance writes, the reservations' home and the source a restarted instance loads
// from.
//
// A Replica loads every record from Redis at start (redisindex.Index.Each), files them in an
// in-process index (index.Memory) under the keys of the current rules, then follows the index's
// change feed (redisindex.FeedKey: a capped stream naming each record written), re-reading and
// refiling each record named. Its own writes go to Redis first, then to its copy at once.
//
// A decision is answered from the copy only while the copy is fresh: loaded, following the
// feed, and caught up within StaleAfter. Otherwise (starting, reloading, Redis unreachable
// from the follower, the feed trimmed past the copy, the index rebuilt) lookups go to Redis
// as they would without a replica, so a replica never answers from a copy it knows is behind.
// Strong-key reservations are always claimed in Redis: one round trip for a create the copy
// does not block already (rules.LateReserver), none for a blocked create, an update or a
// check. A settled reservation is kept for SettleGrace instead of being dropped, so that it
// still blocks a second create while the other instances' copies catch up with the record
// that settled it.
package replica

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

var (
	_ rules.Index        = (*Replica)(nil)
	_ rules.InlineLooker = (*Replica)(nil)
	_ rules.LateReserver = (*Replica)(nil)
	_ index.Writer       = (*Replica)(nil)
	_ index.BatchWriter  = (*Replica)(nil)
	_ index.Settler      = (*Replica)(nil)
	_ index.Watermarks   = (*Replica)(nil)
	_ index.Enumerator   = (*Replica)(nil)
)

// Defaults for Options left zero.
const (
	// DefaultBlock is how long one read of the change feed waits for entries.
	DefaultBlock = time.Second
	// DefaultStaleAfter is how long after its last catch-up the copy stops answering.
	DefaultStaleAfter = 3 * time.Second
	// DefaultSettleGrace is how long a settled reservation is kept: well past StaleAfter.
	DefaultSettleGrace = 10 * time.Second
	// DefaultBatch is how many feed entries one read takes.
	DefaultBatch = 1000
)

// Options tunes a Replica.
type Options struct {
	// Block is how long one read of the change feed waits for entries (DefaultBlock).
	Block time.Duration
	// StaleAfter is how long after its last catch-up the copy stops answering
	// (DefaultStaleAfter).
	StaleAfter time.Duration
	// SettleGrace is how long Settle keeps a reservation (DefaultSettleGrace).
	SettleGrace time.Duration
	// Batch is how many feed entries one read takes (DefaultBatch).
	Batch int64
	// Retry is the wait before loading again after a failed load or a lost feed (default 1 s,
	// doubling to 30 s while Redis stays unreachable).
	Retry time.Duration
	Log   *zap.Logger
}

// Replica is a rules.Index and index.Writer over a Redis index and an in-process copy of it.
// It is safe for concurrent use. Start begins loading; Close stops following.
type Replica struct {
	store *redisindex.Index
	rules func() *rules.Set
	opt   Options
	log   *zap.Logger

	copy  atomic.Pointer[index.Memory] // nil until the first load
	fresh atomic.Int64                 // unix nanoseconds of the last catch-up; 0: not following

	loads, fromRedis atomic.Int64 // full loads (the first and every reload); lookups sent to Redis

	// writeMu orders this instance's writes of a record (Redis, then the copy) with each other
	// and with the follower's refiling of it (a read of Redis, then the copy): without it, a
	// version read or written just before another could reach the copy after it and stay
	// there, since the follower skips its own instance's feed entries. Striped by record id.
	writeMu [writeStripes]sync.Mutex

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// New returns a replica of store, filing records under the keys of the rule set current
// returns at the time (the engine's, so that a rules reload applies to what is refiled
// next). Call Start to load it.
func New(store *redisindex.Index, current func() *rules.Set, opt Options) *Replica {
	if opt.Block <= 0 {
		opt.Block = DefaultBlock
	}
	if opt.StaleAfter <= 0 {
		opt.StaleAfter = DefaultStaleAfter
	}
	if opt.SettleGrace <= 0 {
		opt.SettleGrace = DefaultSettleGrace
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	if opt.Retry <= 0 {
		opt.Retry = time.Second
	}
	log := opt.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Replica{store: store, rules: current, opt: opt, log: log, done: make(chan struct{})}
}

// Start loads the copy and follows the change feed in the background until Close. Lookups
// go to Redis until the copy is loaded.
func (r *Replica) Start(ctx context.Context) {
	r.once.Do(func() {
		ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
		go r.run(ctx)
	})
}

// Close stops following the feed (the store is closed by its owner).
func (r *Replica) Close() error {
	r.once.Do(func() { close(r.done) }) // never started
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	return nil
}

// Store returns the Redis index the replica copies.
func (r *Replica) Store() *redisindex.Index { return r.store }

// Client implements the gateway's Redis client source (audit trail, check API).
func (r *Replica) Client() redis.UniversalClient { return r.store.Client() }

// Prefix returns the Redis index's key prefix.
func (r *Replica) Prefix() string { return r.store.Prefix() }

// Ready reports whether Redis answers (the copy's state is Fresh's concern: a replica that is
// loading answers from Redis, so it is ready to decide).
func (r *Replica) Ready(ctx context.Context) error { return r.store.Ready(ctx) }

// Fresh reports whether decisions are answered from the copy now.
func (r *Replica) Fresh() bool { return r.current() != nil }

// Len returns the number of records in the copy (0 before the first load).
func (r *Replica) Len() int {
	if m := r.copy.Load(); m != nil {
		return m.Len()
	}
	return 0
}

// Stats are counters for metrics: full loads done (the first and every reload), and
// lookups sent to Redis because the copy was not fresh.
func (r *Replica) Stats() (loads, lookupsFromRedis int64) {
	return r.loads.Load(), r.fromRedis.Load()
}

// current returns the copy when it may answer, nil when lookups must go to Redis.
func (r *Replica) current() *index.Memory {
	f := r.fresh.Load()
	if f == 0 || time.Since(time.Unix(0, f)) > r.opt.StaleAfter {
		return nil
	}
	return r.copy.Load()
}

// Lookup implements rules.Index: candidates from the copy when it is fresh, else from Redis;
// q's reservations in Redis either way, in one round trip shared with concurrent lookups.
func (r *Replica) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	m := r.current()
	if m == nil {
		r.fromRedis.Add(1)
		return r.store.Lookup(ctx, q)
	}
	var conflicts []string
	if len(q.Reserve) > 0 {
		res, err := r.store.Lookup(ctx, rules.Lookup{Reserve: q.Reserve, Holder: q.Holder, TTL: q.TTL})
		if err != nil {
			return rules.LookupResult{}, err
		}
		conflicts = res.Conflicts
	}
	local := q
	local.Reserve, local.Holder = nil, ""
	out, err := m.Lookup(ctx, local)
	if err != nil {
		return rules.LookupResult{}, fmt.Errorf("replica: lookup: %w", err)
	}
	out.Conflicts = conflicts
	return out, nil
}

// LooksUpInline implements rules.InlineLooker: true while the copy answers (the engine then
// lends the lookup its storage and spares it a timer), false while lookups go to Redis.
func (r *Replica) LooksUpInline() bool { return r.current() != nil }

// ReservesLate implements rules.LateReserver: while the copy answers. Otherwise lookups read
// Redis and claim in their own round trip.
func (r *Replica) ReservesLate() bool { return r.current() != nil }

// Reserve implements rules.LateReserver: the engine claims a create's strong keys in Redis
// after deciding from the copy, and only when the create is not blocked already.
func (r *Replica) Reserve(ctx context.Context, keys []string, holder string, ttl time.Duration) ([]string, error) {
	if holder == "" {
		return nil, index.ErrNoHolder
	}
	return r.store.Claim(ctx, keys, holder, ttl)
}

// Release implements rules.Index: reservations live in Redis.
func (r *Replica) Release(ctx context.Context, keys []string, holder string) error {
	return r.store.Release(ctx, keys, holder)
}

// ReleasesInline implements rules.InlineReleaser: the store queues releases.
func (r *Replica) ReleasesInline() {}

// Settle implements index.Settler: the reservations are kept for SettleGrace (see the
// package comment).
func (r *Replica) Settle(ctx context.Context, keys []string) error {
	return r.store.SettleAfter(ctx, keys, r.opt.SettleGrace)
}

// Upsert implements index.Writer: Redis (and its change feed) first, then the copy.
func (r *Replica) Upsert(ctx context.Context, rec matcher.Record, keys []string) error {
	defer r.lockRecords(rec.ID)()
	if err := r.store.Upsert(ctx, rec, keys); err != nil {
		return err
	}
	if m := r.copy.Load(); m != nil {
		return m.Upsert(ctx, rec, keys)
	}
	return nil
}

// UpsertBatch implements index.BatchWriter.
func (r *Replica) UpsertBatch(ctx context.Context, entries []index.Entry) error {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Record.ID
	}
	defer r.lockRecords(ids...)()
	if err := r.store.UpsertBatch(ctx, entries); err != nil {
		return err
	}
	if m := r.copy.Load(); m != nil {
		return m.UpsertBatch(ctx, entries)
	}
	return nil
}

// Delete implements index.Writer.
func (r *Replica) Delete(ctx context.Context, entity, id string) error {
	defer r.lockRecords(id)()
	if err := r.store.Delete(ctx, entity, id); err != nil {
		return err
	}
	if m := r.copy.Load(); m != nil {
		return m.Delete(ctx, entity, id)
	}
	return nil
}

// Watermark implements index.Watermarks (kept in Redis).
func (r *Replica) Watermark(ctx context.Context, table string) (time.Time, error) {
	return r.store.Watermark(ctx, table)
}

// SetWatermark implements index.Watermarks.
func (r *Replica) SetWatermark(ctx context.Context, table string, t time.Time) error {
	return r.store.SetWatermark(ctx, table, t)
}

// IDs implements index.Enumerator from Redis, the store of record.
func (r *Replica) IDs(ctx context.Context, entity string, fn func(ids []string) error) error {
	return r.store.IDs(ctx, entity, fn)
}

// writeStripes is the number of locks writeMu spreads records over.
const writeStripes = 64

// lockRecords locks the stripes of ids, in order, and returns the unlock.
func (r *Replica) lockRecords(ids ...string) func() {
	var set uint64
	for _, id := range ids {
		set |= 1 << (maphash.String(stripeSeed, id) % writeStripes)
	}
	for i := range writeStripes {
		if set&(1<<i) != 0 {
			r.writeMu[i].Lock()
		}
	}
	return func() {
		for i := range writeStripes {
			if set&(1<<i) != 0 {
				r.writeMu[i].Unlock()
			}
		}
	}
}

// stripeSeed spreads record ids over writeMu.
var stripeSeed = maphash.MakeSeed()

// errReload ends following: the copy can no longer be brought up to date from the feed.
var errReload = errors.New("replica: reload needed")

// run loads and follows until ctx ends; a lost feed or a failed load starts again.
func (r *Replica) run(ctx context.Context) {
	defer close(r.done)
	wait := r.opt.Retry
	for ctx.Err() == nil {
		from, epoch, err := r.load(ctx)
		if err == nil {
			wait = r.opt.Retry
			err = r.follow(ctx, from, epoch)
		}
		r.fresh.Store(0)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errReload) {
			r.log.Warn("index replica reloading; decisions read Redis meanwhile", zap.Error(err))
			continue
		}
		r.log.Warn("index replica interrupted; decisions read Redis meanwhile", zap.Error(err), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// position is a place in the change feed: the id of the last entry applied, and how many
// entries the feed had received up to and including it.
type position struct {
	id    string
	count int64
}

// load reads every record into a new copy and returns the feed position and epoch it
// follows from: taken before the read, so that what is written during it is replayed.
func (r *Replica) load(ctx context.Context) (from position, epoch string, err error) {
	start := time.Now()
	if epoch, err = r.store.Epoch(ctx); err != nil {
		return position{}, "", err
	}
	if from, err = r.feedEnd(ctx); err != nil {
		return position{}, "", err
	}
	m := index.NewMemory()
	n := 0
	set := r.rules()
	entries := make([]index.Entry, 0, 1024)
	err = r.store.Each(ctx, func(recs []matcher.Record) error {
		entries = entries[:0]
		for _, rec := range recs {
			if e := index.Prepare(set, rec); len(e.Keys) > 0 {
				entries = append(entries, e)
			}
		}
		n += len(entries)
		return m.UpsertBatch(ctx, entries)
	})
	if err != nil {
		return position{}, "", fmt.Errorf("replica: load: %w", err)
	}
	r.copy.Store(m)
	r.loads.Add(1)
	r.log.Info("index replica loaded", zap.Int("records", n), zap.Duration("took", time.Since(start)))
	return from, epoch, nil
}

// feedEnd returns the feed's end: its newest entry ("0-0" for a feed not yet written).
func (r *Replica) feedEnd(ctx context.Context) (position, error) {
	info, err := r.store.Client().XInfoStream(ctx, r.store.FeedKey()).Result()
	if err != nil {
		if isNoSuchKey(err) {
			return position{id: "0-0"}, nil
		}
		return position{}, fmt.Errorf("replica: feed: %w", err)
	}
	return position{id: info.LastGeneratedID, count: info.EntriesAdded}, nil
}

// isNoSuchKey tells XINFO STREAM's error for a stream that does not exist.
func isNoSuchKey(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.Contains(strings.ToLower(rerr.Error()), "no such key")
}

// follow applies the feed from the entry after from until the copy cannot be kept up to date
// (errReload) or Redis fails (its error).
func (r *Replica) follow(ctx context.Context, from position, epoch string) error {
	client := r.store.Client()
	feed := r.store.FeedKey()
	// Until the copy first catches up, this instance's own entries are refiled too: a write
	// it made during the load went to the previous copy, or to none.
	replaying := true
	for {
		// The index rebuilt, or entries this copy has not seen trimmed away: reload.
		pipe := client.Pipeline()
		info := pipe.XInfoStream(ctx, feed)
		now := pipe.HGet(ctx, r.store.Prefix()+"meta", "epoch")
		_, _ = pipe.Exec(ctx)
		if v, err := now.Result(); err != nil {
			return fmt.Errorf("replica: epoch: %w", err)
		} else if v != epoch {
			return fmt.Errorf("%w: the index was rebuilt (epoch %s → %s)", errReload, epoch, v)
		}
		if s, err := info.Result(); err == nil {
			if lost(from, s) {
				return fmt.Errorf("%w: the change feed was trimmed past this copy (at %s; first kept %s)", errReload, from.id, s.FirstEntry.ID)
			}
		} else if !isNoSuchKey(err) {
			return fmt.Errorf("replica: feed: %w", err)
		}

		asked := time.Now()
		res, err := client.XRead(ctx, &redis.XReadArgs{Streams: []string{feed, from.id}, Count: r.opt.Batch, Block: r.opt.Block}).Result()
		if errors.Is(err, redis.Nil) {
			r.fresh.Store(asked.UnixNano()) // nothing new since asked
			replaying = false
			continue
		}
		if err != nil {
			return fmt.Errorf("replica: feed: %w", err)
		}
		var msgs []redis.XMessage
		for _, s := range res {
			msgs = append(msgs, s.Messages...)
		}
		if len(msgs) == 0 {
			r.fresh.Store(asked.UnixNano())
			replaying = false
			continue
		}
		if err := r.apply(ctx, msgs, !replaying); err != nil {
			return err
		}
		from = position{id: msgs[len(msgs)-1].ID, count: from.count + int64(len(msgs))}
		if int64(len(msgs)) < r.opt.Batch {
			r.fresh.Store(asked.UnixNano()) // everything written before asked is applied
			replaying = false
		}
	}
}

// apply refiles the records the entries name, as Redis holds them now; skipOwn skips those
// this instance wrote (in the copy already).
func (r *Replica) apply(ctx context.Context, msgs []redis.XMessage, skipOwn bool) error {
	m := r.copy.Load()
	refs, ids := make([]string, 0, len(msgs)), make([]string, 0, len(msgs))
	seen := make(map[string]bool, len(msgs))
	own := r.store.Writer()
	for _, msg := range msgs {
		// This instance's own writes are in the copy already, under the keys they were
		// filed with; another writer's entry for the same record re-reads it anyway.
		if ref, writer, ok := redisindex.FeedRef(msg); ok && (!skipOwn || writer != own) && !seen[ref] {
			seen[ref] = true
			refs = append(refs, ref)
			if id, ok := redisindex.RefID(ref); ok {
				ids = append(ids, id)
			}
		}
	}
	if len(refs) == 0 {
		return nil
	}
	defer r.lockRecords(ids...)()
	changes, err := r.store.Current(ctx, refs)
	if err != nil {
		return fmt.Errorf("replica: read changes: %w", err)
	}
	set := r.rules()
	for _, c := range changes {
		if c.Found {
			if e := index.Prepare(set, c.Record); len(e.Keys) > 0 {
				if err := m.Upsert(ctx, e.Record, e.Keys); err != nil {
					return err
				}
				continue
			}
		}
		if err := m.Delete(ctx, c.Entity, c.ID); err != nil {
			return err
		}
	}
	return nil
}

// lost reports whether entries after from were trimmed from the feed before this copy read
// them. Trimming takes the oldest entries, so none after from is gone while from is at or
// past the first entry kept; otherwise Redis 7's count of entries ever added says how many
// came after from, and the feed must still hold them all. Older servers do not count: there,
// from itself trimmed is taken as a loss (it takes a full feed written after it; a spurious
// reload at worst).
func lost(from position, s *redis.XInfoStream) bool {
	if s.EntriesAdded > 0 && s.EntriesAdded < from.count {
		return true // the feed was deleted and written anew
	}
	if s.Length == 0 {
		return s.EntriesAdded > from.count
	}
	if !idLess(from.id, s.FirstEntry.ID) {
		return false
	}
	if s.EntriesAdded > 0 {
		return s.EntriesAdded-from.count > s.Length
	}
	return from.id != "0-0"
}

// idLess compares two stream ids ("ms-seq").
func idLess(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am < bm || am == bm && as < bs
}

func splitID(id string) (ms, seq uint64) {
	a, b, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(a, 10, 64)
	seq, _ = strconv.ParseUint(b, 10, 64)
	return ms, seq
}
