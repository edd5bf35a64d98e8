package redisindex

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
)

// The change feed: every write of a record's entry (Upsert, UpsertBatch, Delete) then adds the
// record's ref to a capped stream, <prefix>changes, in a round trip after the entry's (field
// "r": the ref's bytes, table code and id). Gateways that keep a replica of the index in
// memory (package replica) follow it to refile what other instances wrote. An entry names a
// record, not a version: a follower reads the record's entry as it is now (Current), so
// entries of concurrent writers that reach the stream out of order still leave every follower
// with the last version.

// DefaultFeedLength is the approximate number of entries the change feed keeps (MAXLEN ~):
// about 4.8 MB of Redis memory (BenchmarkIndex1M). A follower that falls further behind than that reloads.
const DefaultFeedLength = 100_000

// The stream fields: the record's ref, and the id of the Index that wrote it (a replica
// skips its own writes, which it has filed already, under the keys it was given).
const (
	feedField   = "r"
	writerField = "w"
)

// WithFeedLength sets how many entries the change feed keeps (default DefaultFeedLength);
// a negative n turns the feed off (no replica can then follow this writer).
func WithFeedLength(n int64) Option { return func(o *options) { o.feedLen = n } }

// FeedKey is the change feed's stream key.
func (x *Index) FeedKey() string { return x.prefix + "changes" }

// announce adds the feed entries naming refs, in a round trip of its own, sent once the
// records' entries are written: in a Cluster the commands of one pipeline for different nodes
// are not ordered, and a follower must never read a feed entry before the entry it names.
// Every record a write was asked for is named, changed or not: a write retried after its
// announcement failed finds the record unchanged, and must announce it all the same.
func (x *Index) announce(ctx context.Context, refs []string) error {
	if x.opt.feedLen < 0 || len(refs) == 0 {
		return nil
	}
	pipe := x.client.Pipeline()
	for _, ref := range refs {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: x.FeedKey(), MaxLen: x.opt.feedLen, Approx: true,
			Values: []any{feedField, ref, writerField, x.writer}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisindex: change feed: %w", err)
	}
	return nil
}

// Writer returns the id this Index writes in its change feed entries: random, one per Index.
func (x *Index) Writer() string { return x.writer }

// FeedRef returns the record ref a change feed entry carries and the id of the Index that
// wrote it, and false for an entry that does not carry a ref.
func FeedRef(m redis.XMessage) (ref, writer string, ok bool) {
	ref, _ = m.Values[feedField].(string)
	writer, _ = m.Values[writerField].(string)
	return ref, writer, ref != ""
}

// RefID returns the record id a change feed ref carries, and false for a ref that does not
// decode.
func RefID(ref string) (string, bool) {
	_, id, err := decodeRef(ref)
	return id, err == nil
}

// Change is the current state of a record a change feed entry named.
type Change struct {
	Entity, ID string
	// Found is false when the index no longer holds the record (deleted since): a follower
	// deletes its copy. Record is valid when Found.
	Found  bool
	Record matcher.Record
}

// Current reads the records that change feed refs name, as the index holds them now, in one
// round trip. A ref that does not decode, or whose table is unknown, is skipped with a
// warning: no follower can file it.
func (x *Index) Current(ctx context.Context, refs []string) ([]Change, error) {
	var out []Change
	err := x.retryStale(ctx, func(st *state) error {
		var err error
		out, err = x.current(ctx, st, refs)
		return err
	})
	return out, err
}

func (x *Index) current(ctx context.Context, st *state, refs []string) ([]Change, error) {
	pipe := x.client.Pipeline()
	epoch := pipe.HGet(ctx, x.metaKey(), "epoch")
	gets := make([]*redis.StringCmd, len(refs))
	for i, ref := range refs {
		rid := recordHash(ref)
		gets[i] = pipe.HGet(ctx, st.recBucket(rid), ridField(rid))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisindex: read changes: %w", err)
	}
	if err := x.checkEpoch(st, epoch); err != nil {
		return nil, err
	}
	out := make([]Change, 0, len(refs))
	for i, ref := range refs {
		code, id, err := decodeRef(ref)
		if err != nil {
			x.log.Warn("change feed entry unreadable; skipped", zap.Error(err))
			continue
		}
		entity, err := x.nameOf(ctx, st, kindTable, uint64(code))
		if err != nil {
			if errors.Is(err, errStale) {
				return nil, err
			}
			x.log.Warn("change feed entry of an unknown table; skipped", zap.Error(err))
			continue
		}
		c := Change{Entity: entity, ID: id}
		v, err := gets[i].Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, fmt.Errorf("redisindex: read changes: %w", err)
		default:
			es, derr := decodeEntries(v)
			if derr != nil {
				x.log.Warn("index slot unreadable; its records are dropped from replicas until refiled", zap.Error(derr))
			}
			for j := range es {
				if es[j].ref != ref {
					continue
				}
				rec, err := x.decode(ctx, st, &es[j])
				if errors.Is(err, errStale) {
					return nil, err
				}
				if err != nil {
					x.log.Warn("index entry unreadable; dropped from replicas until refiled", zap.Error(err))
					break
				}
				c.Record, c.Found = rec, true
				break
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// Each calls fn with every record of every table the index holds, a few hundred record
// buckets at a time (a replica's full load). Records written while it runs may be seen or
// not: a follower replays the change feed from before the call.
func (x *Index) Each(ctx context.Context, fn func(recs []matcher.Record) error) error {
	st, err := x.ensure(ctx)
	if err != nil {
		return err
	}
	const step = 128
	var recs []matcher.Record
	for b := uint64(0); b < st.recBuckets; b += step {
		pipe := x.client.Pipeline()
		epoch := pipe.HGet(ctx, x.metaKey(), "epoch")
		cmds := make([]*redis.MapStringStringCmd, 0, step)
		for i := b; i < b+step && i < st.recBuckets; i++ {
			cmds = append(cmds, pipe.HGetAll(ctx, bucketKey(x.prefix, "r:", i)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redisindex: read all: %w", err)
		}
		if err := x.checkEpoch(st, epoch); err != nil {
			return err // the index was rebuilt under the read: the caller starts again
		}
		recs = recs[:0]
		for _, c := range cmds {
			for _, v := range c.Val() {
				es, err := decodeEntries(v)
				if err != nil {
					x.log.Warn("index slot unreadable; skipped", zap.Error(err))
					continue
				}
				for i := range es {
					rec, err := x.decode(ctx, st, &es[i])
					if err != nil {
						if errors.Is(err, errStale) {
							return err
						}
						x.log.Warn("index entry unreadable; skipped", zap.Error(err))
						continue
					}
					recs = append(recs, rec)
				}
			}
		}
		if len(recs) > 0 {
			if err := fn(recs); err != nil {
				return err
			}
		}
	}
	return nil
}

// Epoch returns the index's epoch as Redis holds it now: it changes when Redis lost its data
// or the index was rebuilt, and a replica then reloads. An index whose metadata is gone
// (Redis restarted empty) is initialised again, with a new epoch.
func (x *Index) Epoch(ctx context.Context) (string, error) {
	st, err := x.ensure(ctx)
	if err != nil {
		return "", err
	}
	err = x.checkEpoch(st, x.client.HGet(ctx, x.metaKey(), "epoch"))
	if err == nil {
		return st.epoch, nil
	}
	if !errors.Is(err, errStale) {
		return "", fmt.Errorf("redisindex: epoch: %w", err)
	}
	if st, err = x.ensure(ctx); err != nil {
		return "", err
	}
	return st.epoch, nil
}

// SettleAfter is Settle for gateways that keep replicas: the reservations are kept for grace
// more instead of being dropped, so that they still stand while other instances' replicas
// catch up with the record that settles them. A grace of 0 drops them (Settle).
func (x *Index) SettleAfter(ctx context.Context, keys []string, grace time.Duration) error {
	if len(keys) == 0 {
		return nil
	}
	if _, err := x.ensure(ctx); err != nil {
		return err
	}
	pipe := x.client.Pipeline()
	for _, k := range keys {
		if grace > 0 {
			pipe.PExpire(ctx, reservationKey(x.prefix, k), grace)
		} else {
			pipe.Del(ctx, reservationKey(x.prefix, k))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisindex: settle: %w", err)
	}
	return nil
}

// Claim claims keys for holder for ttl, all or none: it returns the keys another holder has
// (and then claims none). One round trip with no index read, shared with concurrent lookups
// and carrying the releases queued. A replica claims this way after its engine decided from
// its copy (rules.LateReserver). It is deliberately not named Reserve: the Redis index itself
// is no rules.LateReserver, since its lookups claim in their own round trip.
func (x *Index) Claim(ctx context.Context, keys []string, holder string, ttl time.Duration) ([]string, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if holder == "" {
		return nil, index.ErrNoHolder
	}
	if ttl <= 0 {
		ttl = index.DefaultReservationTTL
	}
	st, err := x.ensure(ctx)
	if err != nil {
		return nil, err
	}
	pipe := x.client.Pipeline()
	x.releases.drainInto(ctx, pipe, x.prefix)
	c := x.queueClaim(ctx, pipe, st, keys, holder, ttl)
	if err := x.trips.do(ctx, pipe.Cmds(), nil); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisindex: reserve: %w", err)
	}
	return x.claimed(ctx, c)
}
