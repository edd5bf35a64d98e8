package replica

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

func TestLost(t *testing.T) {
	first := func(id string) redis.XMessage { return redis.XMessage{ID: id} }
	for _, tc := range []struct {
		name string
		from position
		info redis.XInfoStream
		want bool
	}{
		{"nothing trimmed", position{"5-0", 5}, redis.XInfoStream{EntriesAdded: 9, FirstEntry: first("1-0"), Length: 9}, false},
		{"trimmed up to from", position{"5-0", 5}, redis.XInfoStream{EntriesAdded: 9, FirstEntry: first("6-0"), Length: 4}, false},
		{"trimmed past from", position{"5-0", 5}, redis.XInfoStream{EntriesAdded: 9, FirstEntry: first("7-0"), Length: 3}, true},
		{"trimmed before from", position{"5-0", 5}, redis.XInfoStream{EntriesAdded: 9, FirstEntry: first("3-0"), Length: 7}, false},
		{"empty feed never written", position{"0-0", 0}, redis.XInfoStream{}, false},
		{"loaded on an empty feed, nothing trimmed", position{"0-0", 0}, redis.XInfoStream{EntriesAdded: 3, FirstEntry: first("7-0"), Length: 3}, false},
		{"loaded on an empty feed, some trimmed", position{"0-0", 0}, redis.XInfoStream{EntriesAdded: 5, FirstEntry: first("9-0"), Length: 3}, true},
		{"feed deleted and written anew", position{"5-0", 5}, redis.XInfoStream{EntriesAdded: 2, FirstEntry: first("8-0"), Length: 2}, true},
		{"old server, first kept after from", position{"5-0", 0}, redis.XInfoStream{FirstEntry: first("7-0"), Length: 3}, true},
		{"old server, from kept", position{"5-0", 0}, redis.XInfoStream{FirstEntry: first("5-0"), Length: 3}, false},
		{"old server, loaded on an empty feed", position{"0-0", 0}, redis.XInfoStream{FirstEntry: first("7-0"), Length: 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lost(tc.from, &tc.info); got != tc.want {
				t.Fatalf("lost(%+v, %+v) = %v, want %v", tc.from, tc.info, got, tc.want)
			}
		})
	}
}

func rulesForTest(t *testing.T) *rules.Set {
	set, err := rules.LoadFile(filepath.Join("..", "..", "configs", "rules.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// loaded returns a replica of a fresh index and a second writer of it, the replica loaded
// (not following) at the returned feed position and epoch.
func loaded(t *testing.T, opts ...redisindex.Option) (r *Replica, writer *redisindex.Index, from position, epoch string) {
	t.Helper()
	addr, prefix := redistest.Standalone(t), redistest.Prefix(t)
	open := func() *redisindex.Index {
		x, err := redisindex.New(config.Redis{Addrs: []string{addr}, Prefix: prefix}, append([]redisindex.Option{redisindex.WithBuckets(256)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = x.Close() })
		return x
	}
	set := rulesForTest(t)
	r = New(open(), func() *rules.Set { return set }, Options{Block: 50 * time.Millisecond})
	writer = open()
	fileN(t, writer, set, 0, 3)
	from, epoch, err := r.load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 3 {
		t.Fatalf("loaded %d records, want 3", r.Len())
	}
	return r, writer, from, epoch
}

func fileN(t *testing.T, x index.Writer, set *rules.Set, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		rec := matcher.Record{Entity: "contact", ID: fmt.Sprintf("%08x-0000-4000-8000-000000000001", i),
			Attrs: map[string]string{"firstname": "Ann", "lastname": fmt.Sprintf("Smith%d", i), "emailaddress1": fmt.Sprintf("ann%d@example.org", i)}}
		if err := index.File(t.Context(), x, set, rec); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFollowReloadsWhenFeedTrimmed: entries written after the copy's position and trimmed
// before it read them end following with errReload (and a full load picks them up).
func TestFollowReloadsWhenFeedTrimmed(t *testing.T) {
	r, writer, from, epoch := loaded(t)
	set := r.rules()
	fileN(t, writer, set, 3, 4)
	if err := writer.Client().XTrimMaxLen(t.Context(), writer.FeedKey(), 1).Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // a copy that missed the trim follows on
	defer cancel()
	err := r.follow(ctx, from, epoch)
	if !errors.Is(err, errReload) {
		t.Fatalf("follow after the feed was trimmed past the copy: %v, want errReload", err)
	}
	if _, _, err := r.load(t.Context()); err != nil || r.Len() != 7 {
		t.Fatalf("reload: %v, %d records, want 7", err, r.Len())
	}
}

// TestFollowReloadsWhenRebuilt: a new epoch (the index rebuilt, or Redis restarted empty)
// ends following with errReload.
func TestFollowReloadsWhenRebuilt(t *testing.T) {
	r, writer, from, epoch := loaded(t)
	if err := writer.Client().HSet(t.Context(), writer.Prefix()+"meta", "epoch", "rebuilt").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := r.follow(ctx, from, epoch); !errors.Is(err, errReload) {
		t.Fatalf("follow after a rebuild: %v, want errReload", err)
	}
}

// TestStaleCopyNotUsed: a copy not caught up within StaleAfter does not answer; lookups go
// to Redis and are counted.
func TestStaleCopyNotUsed(t *testing.T) {
	r, _, _, _ := loaded(t)
	r.fresh.Store(time.Now().Add(-2 * r.opt.StaleAfter).UnixNano())
	if r.Fresh() {
		t.Fatal("a copy last caught up twice StaleAfter ago is fresh")
	}
	if _, err := r.Lookup(t.Context(), rules.Lookup{Keys: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if _, fromRedis := r.Stats(); fromRedis != 1 {
		t.Fatalf("%d lookups from Redis, want 1", fromRedis)
	}
	r.fresh.Store(time.Now().UnixNano())
	if _, err := r.Lookup(t.Context(), rules.Lookup{Keys: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if _, fromRedis := r.Stats(); fromRedis != 1 {
		t.Fatalf("a fresh copy's lookup went to Redis (%d)", fromRedis)
	}
}

// TestOwnWritesDuringLoadReplayed: a write this instance made while its copy was loading (to
// no copy, or the previous one) is refiled from the feed, though the follower skips its own
// entries once caught up.
func TestOwnWritesDuringLoadReplayed(t *testing.T) {
	addr, prefix := redistest.Standalone(t), redistest.Prefix(t)
	x, err := redisindex.New(config.Redis{Addrs: []string{addr}, Prefix: prefix}, redisindex.WithBuckets(256))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	set := rulesForTest(t)
	r := New(x, func() *rules.Set { return set }, Options{Block: 50 * time.Millisecond})
	epoch, err := x.Epoch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	from, err := r.feedEnd(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	fileN(t, r, set, 0, 2)          // no copy yet: Redis only
	r.copy.Store(index.NewMemory()) // a load that read the buckets before the writes
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.follow(ctx, from, epoch) }()
	deadline := time.Now().Add(5 * time.Second)
	for r.Len() != 2 || !r.Fresh() {
		if time.Now().After(deadline) {
			t.Fatalf("copy holds %d records, fresh %v; want the 2 written during the load", r.Len(), r.Fresh())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

// tripCounter counts the pipelines and single commands a client sends.
type tripCounter struct{ n atomic.Int64 }

func (h *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestStaleCopyClaimsInLookup: with a copy that is not fresh, a create's lookup reads Redis
// and claims its keys in the same round trip (no round trip of its own for the claim).
func TestStaleCopyClaimsInLookup(t *testing.T) {
	hook := &tripCounter{}
	r, _, _, _ := loaded(t, redisindex.WithHook(hook))
	set := r.rules()
	e := rules.NewEngine(set, r, rules.EngineConfig{Deadline: time.Second, Reservations: true})
	create := func(holder string) rules.Decision {
		return e.Decide(t.Context(), rules.Request{Record: matcher.Record{Entity: "contact", Attrs: map[string]string{
			"firstname": "Zygmunt", "lastname": "Quellbrunn", "emailaddress1": "zq@example.org"}},
			Message: "Create", EntryPoint: rules.EntryForm, Holder: holder})
	}
	r.fresh.Store(time.Now().UnixNano()) // fresh: the claim after the decision
	before := hook.n.Load()
	if d := create("h1"); d.Outcome != rules.OutcomeAllow || d.Fallback != "" {
		t.Fatalf("fresh copy: %+v", d)
	}
	if trips := hook.n.Load() - before; trips != 1 {
		t.Fatalf("fresh copy: %d round trips, want 1 (the claim)", trips)
	}
	r.fresh.Store(time.Now().Add(-2 * r.opt.StaleAfter).UnixNano()) // stale: Redis answers
	before = hook.n.Load()
	if d := create("h2"); d.Outcome != rules.OutcomeBlock || len(d.Matches) == 0 || !d.Matches[0].Reserved {
		t.Fatalf("stale copy, the key held by h1: %+v", d)
	}
	if trips := hook.n.Load() - before; trips != 1 {
		t.Fatalf("stale copy: %d round trips, want 1 (the lookup with its claim; no record named)", trips)
	}
}
