package replica_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/indextest"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/index/replica"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// quiet drops go-redis's own log lines (connection refused while a test has Redis down).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }

func shippedRules(tb testing.TB) *rules.Set {
	set, err := rules.LoadFile(filepath.Join("..", "..", "configs", "rules.yaml"), nil)
	if err != nil {
		tb.Fatalf("load the shipped rules: %v", err)
	}
	return set
}

// testOptions follow the feed quickly, so that tests wait little.
var testOptions = replica.Options{Block: 100 * time.Millisecond, StaleAfter: 500 * time.Millisecond,
	SettleGrace: 300 * time.Millisecond, Retry: 50 * time.Millisecond}

func newStore(t testing.TB, addrs []string, prefix string, opts ...redisindex.Option) *redisindex.Index {
	t.Helper()
	x, err := redisindex.New(config.Redis{Addrs: addrs, Prefix: prefix,
		DialTimeout: config.Duration(200 * time.Millisecond), ReadTimeout: config.Duration(200 * time.Millisecond),
		WriteTimeout: config.Duration(200 * time.Millisecond)}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// startReplica starts a replica of store and waits until it answers from its copy.
func startReplica(t testing.TB, store *redisindex.Index, set *rules.Set, opt replica.Options) *replica.Replica {
	t.Helper()
	r := replica.New(store, func() *rules.Set { return set }, opt)
	r.Start(context.Background())
	t.Cleanup(func() { _ = r.Close() })
	waitUntil(t, "the replica is fresh", r.Fresh)
	return r
}

func waitUntil(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConformance runs the index suite on a replica: its own writes are in its copy at once,
// its reservations in Redis (kept for the settle grace after Settle).
func TestConformance(t *testing.T) {
	set := shippedRules(t)
	opts := indextest.Options{SettleGrace: testOptions.SettleGrace}
	t.Run("standalone", func(t *testing.T) {
		addr := redistest.Standalone(t)
		indextest.RunWith(t, func(t *testing.T) indextest.Index {
			return startReplica(t, newStore(t, []string{addr}, redistest.Prefix(t), redisindex.WithBuckets(1024)), set, testOptions)
		}, opts)
	})
	t.Run("cluster", func(t *testing.T) {
		addrs := redistest.Cluster(t)
		indextest.RunWith(t, func(t *testing.T) indextest.Index {
			return startReplica(t, newStore(t, addrs, redistest.Prefix(t), redisindex.WithBuckets(256)), set, testOptions)
		}, opts)
	})
}

// countingHook counts the commands an index sends.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(int64(len(cmds))); return next(ctx, cmds) }
}

func contact(n int, first, last, email, phone string) matcher.Record {
	return matcher.Record{Entity: "contact", ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n*7919), Attrs: map[string]string{
		"firstname": first, "lastname": last, "emailaddress1": email, "mobilephone": phone}}
}

// finds reports whether a lookup by rec's own blocking keys (as a decision would make them)
// returns rec.
func finds(t testing.TB, x rules.Index, set *rules.Set, rec matcher.Record) bool {
	t.Helper()
	e := index.Prepare(set, rec)
	res, err := x.Lookup(context.Background(), rules.Lookup{Keys: e.Keys})
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	return slices.ContainsFunc(res.Records, func(c matcher.Record) bool { return c.ID == rec.ID })
}

// TestFollowsOtherWriters: what one instance (or the sync command, writing Redis directly)
// files, deletes or changes reaches another instance's copy through the change feed, under
// the keys of the rules, and that instance's lookups send Redis nothing.
func TestFollowsOtherWriters(t *testing.T) {
	set := shippedRules(t)
	for _, tc := range []struct {
		name  string
		addrs func(t *testing.T) []string
	}{
		{"standalone", func(t *testing.T) []string { return []string{redistest.Standalone(t)} }},
		{"cluster", func(t *testing.T) []string { return redistest.Cluster(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs, prefix := tc.addrs(t), redistest.Prefix(t)
			a := startReplica(t, newStore(t, addrs, prefix, redisindex.WithBuckets(256)), set, testOptions)
			hook := &countingHook{}
			b := startReplica(t, newStore(t, addrs, prefix, redisindex.WithBuckets(256), redisindex.WithHook(hook)), set, testOptions)
			syncer := newStore(t, addrs, prefix, redisindex.WithBuckets(256))

			ann := contact(1, "Ann", "Hathaway", "ann.hathaway@example.org", "+44 7700 900001")
			if err := index.Commit(t.Context(), a, set, ann); err != nil {
				t.Fatal(err)
			}
			if !finds(t, a, set, ann) {
				t.Fatal("the writer's own copy does not find its write at once")
			}
			waitUntil(t, "b finds a's record", func() bool { return finds(t, b, set, ann) })

			bob := contact(2, "Bob", "Browne", "bob.browne@example.org", "+44 7700 900002")
			if err := index.File(t.Context(), syncer, set, bob); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "a and b find the sync's record", func() bool { return finds(t, a, set, bob) && finds(t, b, set, bob) })

			// A changed e-mail address: found under the new key, no longer under the old.
			moved := ann
			moved.Attrs = map[string]string{"firstname": "Ann", "lastname": "Hathaway", "emailaddress1": "ann@hathaway.example", "mobilephone": "+44 7700 900001"}
			if err := index.File(t.Context(), a, set, moved); err != nil {
				t.Fatal(err)
			}
			byOldEmail := func(x rules.Index) bool {
				res, err := x.Lookup(t.Context(), rules.Lookup{Keys: []string{emailKey(t, set, ann)}})
				if err != nil {
					t.Fatal(err)
				}
				return len(res.Records) > 0
			}
			waitUntil(t, "b finds the new e-mail, not the old", func() bool { return finds(t, b, set, moved) && !byOldEmail(b) })

			if err := a.Delete(t.Context(), "contact", ann.ID); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "b drops the deleted record", func() bool { return !finds(t, b, set, moved) })
			if finds(t, a, set, moved) {
				t.Fatal("the deleting instance still finds the record")
			}

			before := hook.n.Load()
			for range 50 {
				if !finds(t, b, set, bob) {
					t.Fatal("b lost bob")
				}
			}
			// The follower's own commands go on meanwhile (a read of the feed a block, a
			// check before it): a few, against 50 lookups' 100 or more round trips.
			if sent := hook.n.Load() - before; sent > 12 {
				t.Fatalf("50 lookups from a fresh copy sent %d commands to Redis", sent)
			}
			if loads, fromRedis := b.Stats(); loads != 1 || fromRedis != 0 {
				t.Fatalf("b: %d loads, %d lookups from Redis; want 1 and 0", loads, fromRedis)
			}
		})
	}
}

// emailKey returns the blocking key of rec's e-mail address alone under set.
func emailKey(t *testing.T, set *rules.Set, rec matcher.Record) string {
	t.Helper()
	only := matcher.Record{Entity: rec.Entity, ID: rec.ID, Attrs: map[string]string{"emailaddress1": rec.Attrs["emailaddress1"]}}
	keys := index.Prepare(set, only).Keys
	if len(keys) != 1 {
		t.Fatalf("keys of an e-mail address alone: %v", keys)
	}
	return keys[0]
}

// TestLoadsWhatRedisHolds: a replica started on a filled index loads every record, and
// answers the same candidates as Redis for every record's keys.
func TestLoadsWhatRedisHolds(t *testing.T) {
	set := shippedRules(t)
	addr, prefix := redistest.Standalone(t), redistest.Prefix(t)
	store := newStore(t, []string{addr}, prefix, redisindex.WithBuckets(1024))
	firsts := []string{"Ann", "Bob", "Cara", "Dev", "Eve", "Finn", "Gwen", "Huw"}
	lasts := []string{"Smith", "Jones", "Brown", "Patel", "Evans"}
	var recs []matcher.Record
	for i := range 400 {
		recs = append(recs, contact(100+i, firsts[i%len(firsts)], lasts[i%len(lasts)],
			fmt.Sprintf("p%d@example.org", i/2), fmt.Sprintf("+44 7700 9%05d", i/3)))
	}
	if err := index.FileBatch(t.Context(), store, set, recs); err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, newStore(t, []string{addr}, prefix), set, testOptions)
	if r.Len() != len(recs) {
		t.Fatalf("loaded %d records, want %d", r.Len(), len(recs))
	}
	for _, rec := range recs {
		keys := index.Prepare(set, rec).Keys
		q := rules.Lookup{Keys: keys, PerKeyLimit: 200}
		want, err := store.Lookup(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Lookup(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if w, g := ids(want.Records), ids(got.Records); !slices.Equal(w, g) {
			t.Fatalf("%s: replica candidates %v, Redis %v", rec.ID, g, w)
		}
	}
}

func ids(recs []matcher.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// TestRedisDownAndBack: with Redis gone the copy stops answering once stale, and lookups
// fail as the Redis index's do (the engine then applies its failure policy); when Redis is
// back (empty: no persistence, a new epoch) the replica reloads, and records filed again are
// found from the copy.
func TestRedisDownAndBack(t *testing.T) {
	set := shippedRules(t)
	srv := redistest.Start(t)
	store := newStore(t, []string{srv.Addr}, "dg:")
	r := startReplica(t, store, set, testOptions)
	ann := contact(1, "Ann", "Hathaway", "ann.hathaway@example.org", "+44 7700 900001")
	if err := index.File(t.Context(), r, set, ann); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	waitUntil(t, "the copy goes stale", func() bool { return !r.Fresh() })
	if _, err := r.Lookup(t.Context(), rules.Lookup{Keys: index.Prepare(set, ann).Keys}); err == nil {
		t.Fatal("lookup with Redis down and a stale copy: no error")
	}
	srv.Restart(t)
	waitUntil(t, "fresh again", r.Fresh)
	if loads, _ := r.Stats(); loads < 2 {
		t.Fatalf("%d loads after Redis came back empty; want a reload", loads)
	}
	waitUntil(t, "the record filed again", func() bool { return index.File(t.Context(), r, set, ann) == nil })
	if !finds(t, r, set, ann) {
		t.Fatal("the record filed again is not found")
	}
}

// TestEngineBlocksAcrossInstances: a create decided on one instance is blocked on another by
// the reservation until the first's record reaches the second's copy, and by the record after.
func TestEngineBlocksAcrossInstances(t *testing.T) {
	set := shippedRules(t)
	addr, prefix := redistest.Standalone(t), redistest.Prefix(t)
	a := startReplica(t, newStore(t, []string{addr}, prefix), set, testOptions)
	b := startReplica(t, newStore(t, []string{addr}, prefix), set, testOptions)
	cfg := rules.EngineConfig{Deadline: time.Second, Reservations: true}
	ea, eb := rules.NewEngine(set, a, cfg), rules.NewEngine(set, b, cfg)
	aoife := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Aoife", "lastname": "Ní Bhriain",
		"emailaddress1": "aoife.nibhriain@contoso-ltd.com", "mobilephone": "+44 7700 900999"}}
	first := ea.Decide(t.Context(), rules.Request{Record: aoife, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-a"})
	if first.Outcome != rules.OutcomeAllow {
		t.Fatalf("first create: %+v", first)
	}
	second := eb.Decide(t.Context(), rules.Request{Record: aoife, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-b"})
	if second.Outcome != rules.OutcomeBlock || len(second.Matches) == 0 || !second.Matches[0].Reserved {
		t.Fatalf("concurrent create on the other instance: %+v", second)
	}
	// The first is saved: its PostOperation step files it on instance a and settles.
	saved := aoife
	saved.ID = "7d81597f-0d61-4a34-8e5e-7e9b1f7f4c12"
	if err := index.Commit(t.Context(), a, set, saved); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b blocks by the record", func() bool {
		d := eb.Decide(t.Context(), rules.Request{Record: aoife, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-c"})
		return d.Outcome == rules.OutcomeBlock && len(d.Matches) > 0 && d.Matches[0].ID == saved.ID
	})
	// Past the settle grace, the reservation is gone and the record alone blocks.
	time.Sleep(2 * testOptions.SettleGrace)
	d := eb.Decide(t.Context(), rules.Request{Record: aoife, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-d"})
	if d.Outcome != rules.OutcomeBlock || slices.ContainsFunc(d.Matches, func(m rules.Match) bool { return m.Reserved }) {
		t.Fatalf("after the grace: %+v", d)
	}
	// A create blocked by the record claims nothing (rules.LateReserver): no reservation of
	// req-d's in Redis.
	c := redistest.Client(t, addr)
	iter := c.Scan(t.Context(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		if v, err := c.Get(t.Context(), iter.Val()).Result(); err == nil && v == "req-d" {
			t.Fatalf("the blocked create holds %q", iter.Val())
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	// A create of a new person claims its keys: req-e's claim blocks req-f's.
	bryn := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Bryn", "lastname": "Terfel",
		"emailaddress1": "bryn.terfel@contoso-ltd.com"}}
	if d := ea.Decide(t.Context(), rules.Request{Record: bryn, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-e"}); d.Outcome != rules.OutcomeAllow {
		t.Fatalf("a new person: %+v", d)
	}
	held := 0
	iter = c.Scan(t.Context(), 0, prefix+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		if v, err := c.Get(t.Context(), iter.Val()).Result(); err == nil && v == "req-e" {
			held++
		}
	}
	if held == 0 {
		t.Fatal("the allowed create of a new person holds no reservation")
	}
}

// TestConcurrentCreatesAcrossInstances: 20 concurrent creates of one new person, each its own
// request, alternating between two instances: exactly one is allowed (the first claim of the
// strong key in Redis wins; the others are blocked by it).
func TestConcurrentCreatesAcrossInstances(t *testing.T) {
	set := shippedRules(t)
	addr, prefix := redistest.Standalone(t), redistest.Prefix(t)
	cfg := rules.EngineConfig{Deadline: 2 * time.Second, Reservations: true}
	engines := []*rules.Engine{
		rules.NewEngine(set, startReplica(t, newStore(t, []string{addr}, prefix), set, testOptions), cfg),
		rules.NewEngine(set, startReplica(t, newStore(t, []string{addr}, prefix), set, testOptions), cfg),
	}
	anna := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Anna", "lastname": "Nowak",
		"emailaddress1": "anna.nowak@example.pl", "mobilephone": "+48 601 234 567"}}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			d := engines[i%2].Decide(context.Background(), rules.Request{Record: anna, Message: "Create", EntryPoint: rules.EntryForm, Holder: fmt.Sprintf("req-%d", i)})
			if d.Outcome == rules.OutcomeAllow {
				allowed.Add(1)
			} else if d.Outcome != rules.OutcomeBlock || d.Fallback != "" {
				t.Errorf("create %d: %+v", i, d)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != 1 {
		t.Fatalf("%d of 20 concurrent creates allowed, want 1", n)
	}
}

type verifier func(token string) error

func (v verifier) Verify(ctx context.Context, token string, req rules.Request, ms []rules.Match) error {
	return v(token)
}

// TestOverrideNeverCoversConcurrentSave: an "Ignore and Save" override lets a create past the
// record it duplicates, and the create then claims its strong keys; a second overridden create
// of the same person, while the first's claim stands, is blocked by that claim, not overridden.
func TestOverrideNeverCoversConcurrentSave(t *testing.T) {
	set := shippedRules(t)
	addr, prefix := redistest.Standalone(t), redistest.Prefix(t)
	r := startReplica(t, newStore(t, []string{addr}, prefix), set, testOptions)
	robert := contact(7, "Robert", "Smith", "robert.smith@example.com", "+44 7700 900007")
	if err := index.File(t.Context(), r, set, robert); err != nil {
		t.Fatal(err)
	}
	e := rules.NewEngine(set, r, rules.EngineConfig{Deadline: time.Second, Reservations: true},
		rules.WithOverride(verifier(func(tok string) error {
			if tok != "good" {
				return fmt.Errorf("bad token")
			}
			return nil
		})))
	dup := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith",
		"emailaddress1": "robert.smith@example.com"}}
	first := e.Decide(t.Context(), rules.Request{Record: dup, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-1", OverrideToken: "good"})
	if first.Outcome != rules.OutcomeAllow || !first.Overridden {
		t.Fatalf("first overridden create: %+v", first)
	}
	second := e.Decide(t.Context(), rules.Request{Record: dup, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-2", OverrideToken: "good"})
	if second.Outcome != rules.OutcomeBlock || second.Overridden ||
		!slices.ContainsFunc(second.Matches, func(m rules.Match) bool { return m.Reserved }) {
		t.Fatalf("second overridden create while the first's claim stands: %+v", second)
	}
}
