package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/metrics"
)

// Store keeps entries. Implementations are safe for concurrent use.
type Store interface {
	// Append stores entries in order, setting nothing on the caller's copies.
	Append(ctx context.Context, entries []Entry) error
	// List returns the entries at or after since that pass f, oldest first. With f.Limit, it
	// returns the newest f.Limit of them.
	List(ctx context.Context, since time.Time, f Filter) ([]Entry, error)
}

// Filter narrows List. Zero fields match everything.
type Filter struct {
	Kinds []Kind
	// Outcome keeps entries whose decision was this outcome (allow, warn, block).
	Outcome string
	Table   string
	Rule    string
	UserID  string
	// Until excludes entries after it.
	Until time.Time
	// Limit keeps the newest Limit entries. 0 means no limit beyond the store's capacity.
	Limit int
}

// Match reports whether e passes f (the time bounds aside).
func (f Filter) Match(e Entry) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind) {
		return false
	}
	if f.Outcome != "" && e.Outcome != f.Outcome {
		return false
	}
	if f.Table != "" && e.Table != f.Table {
		return false
	}
	if f.UserID != "" && e.UserID != f.UserID && e.UserAADID != f.UserID {
		return false
	}
	if f.Rule != "" && !slices.Contains(e.Rules(), f.Rule) {
		return false
	}
	return true
}

func (f Filter) inTime(e Entry, since time.Time) bool {
	if e.Time.Before(since) {
		return false
	}
	return f.Until.IsZero() || !e.Time.After(f.Until)
}

// Ring is the in-process store: the newest Size entries, lost on restart.
type Ring struct {
	mu    sync.Mutex
	buf   []Entry
	next  int // index of the next write
	full  bool
	seq   uint64
	lastM int64
}

// NewRing returns a ring holding at most size entries.
func NewRing(size int) *Ring {
	if size < 1 {
		size = 1
	}
	return &Ring{buf: make([]Entry, size)}
}

// Append implements Store.
func (r *Ring) Append(ctx context.Context, entries []Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		ms := e.Time.UnixMilli()
		if ms <= r.lastM {
			r.seq++
		} else {
			r.seq = 0
			r.lastM = ms
		}
		e.ID = ringID(r.lastM, r.seq)
		r.buf[r.next] = e
		r.next++
		if r.next == len(r.buf) {
			r.next, r.full = 0, true
		}
	}
	return nil
}

// ringID is the ring's entry id, "<ms>-<seq>".
func ringID(ms int64, seq uint64) string {
	var b [48]byte
	return string(strconv.AppendUint(append(strconv.AppendInt(b[:0], ms, 10), '-'), seq, 10))
}

// List implements Store.
func (r *Ring) List(ctx context.Context, since time.Time, f Filter) ([]Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	var out []Entry
	// Newest first, then reversed.
	for i := 0; i < n; i++ {
		e := r.buf[(r.next-1-i+len(r.buf))%len(r.buf)]
		if !f.inTime(e, since) || !f.Match(e) {
			continue
		}
		out = append(out, e)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// Len returns the number of entries held.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// RedisStore keeps entries in one capped Redis Stream: XADD key MAXLEN ~ MaxLen * e <json>.
// One key means one hash slot, so it works unchanged in Redis Cluster. Stream ids are
// assigned by Redis (its clock); an entry's own Time is in its JSON.
type RedisStore struct {
	client ClientFunc
	key    string
	maxLen int64
}

// ClientFunc returns the Redis client to use, connecting if needed (e.g. the index's client
// once it is ready). An error fails the operation at hand; the next one asks again.
type ClientFunc func(ctx context.Context) (redis.UniversalClient, error)

// NewRedisStore returns a store writing to the stream key, trimmed to about maxLen entries.
func NewRedisStore(client redis.UniversalClient, key string, maxLen int64) *RedisStore {
	return NewRedisStoreFunc(func(context.Context) (redis.UniversalClient, error) { return client, nil }, key, maxLen)
}

// NewRedisStoreFunc is NewRedisStore with a client obtained on use, so that the store can
// share a client that connects lazily (the Redis index's).
func NewRedisStoreFunc(client ClientFunc, key string, maxLen int64) *RedisStore {
	return &RedisStore{client: client, key: key, maxLen: maxLen}
}

// callerCtx labels the store's Redis calls "audit" in the Redis metrics, so that they are
// told apart from the index's on a shared client.
func callerCtx(ctx context.Context) context.Context { return metrics.WithRedisCaller(ctx, "audit") }

// Key returns the stream's key.
func (s *RedisStore) Key() string { return s.key }

// entryField is the stream entry's one field: the entry as JSON.
const entryField = "e"

// Append implements Store with one pipelined round trip.
func (s *RedisStore) Append(ctx context.Context, entries []Entry) error {
	if len(entries) == 0 {
		return nil
	}
	ctx = callerCtx(ctx)
	client, err := s.client(ctx)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// The entries' JSON (exactly json.Marshal's) goes into one buffer, rather than an
	// allocation each; the commands take slices of it once it is complete.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	ends := make([]int, len(entries))
	for i, e := range entries {
		e.ID = ""
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("audit: encode entry: %w", err)
		}
		buf.Truncate(buf.Len() - 1) // the newline Encode ends a value with
		ends[i] = buf.Len()
		if i == 0 && len(entries) > 1 {
			// Room for the rest at about the first one's size, so that the buffer seldom grows.
			buf.Grow(buf.Len() * (len(entries) - 1) * 5 / 4)
		}
	}
	all := buf.Bytes()
	pipe := client.Pipeline()
	start := 0
	for _, end := range ends {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.key, MaxLen: s.maxLen, Approx: true, Values: []any{entryField, all[start:end:end]}})
		start = end
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("audit: XADD %d entries: %w", len(entries), err)
	}
	return nil
}

// clockSlack is how far an entry's own time may precede its stream id (clock skew between
// gateway instances and Redis, queueing before the write).
const clockSlack = 5 * time.Minute

// listPage is the XREVRANGE page size.
const listPage = 1000

// List implements Store: it pages backwards from the newest entry until it passes since (by
// stream id, with some slack for clock skew) or has Limit entries.
func (s *RedisStore) List(ctx context.Context, since time.Time, f Filter) ([]Entry, error) {
	stopID := "-"
	if !since.IsZero() {
		stopID = strconv.FormatInt(since.Add(-clockSlack).UnixMilli(), 10)
	}
	ctx = callerCtx(ctx)
	client, err := s.client(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	end := "+"
	var out []Entry
	for {
		msgs, err := client.XRevRangeN(ctx, s.key, end, stopID, listPage).Result()
		if err != nil {
			return nil, fmt.Errorf("audit: XREVRANGE %s: %w", s.key, err)
		}
		for _, m := range msgs {
			e, err := decodeMessage(m)
			if err != nil {
				continue // a foreign or damaged entry: skip it, keep the rest readable
			}
			if !f.inTime(e, since) || !f.Match(e) {
				continue
			}
			out = append(out, e)
			if f.Limit > 0 && len(out) == f.Limit {
				slices.Reverse(out)
				return out, nil
			}
		}
		if len(msgs) < listPage {
			break
		}
		end = "(" + msgs[len(msgs)-1].ID
	}
	slices.Reverse(out)
	return out, nil
}

func decodeMessage(m redis.XMessage) (Entry, error) {
	raw, ok := m.Values[entryField]
	if !ok {
		return Entry{}, errors.New("no entry field")
	}
	s, ok := raw.(string)
	if !ok {
		return Entry{}, errors.New("entry field is not a string")
	}
	var e Entry
	if err := json.NewDecoder(strings.NewReader(s)).Decode(&e); err != nil {
		return Entry{}, err
	}
	e.ID = m.ID
	return e, nil
}

// Len returns the stream's length (XLEN).
func (s *RedisStore) Len(ctx context.Context) (int64, error) {
	ctx = callerCtx(ctx)
	client, err := s.client(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	return client.XLen(ctx, s.key).Result()
}
