package redisindex_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
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

// roundTrips counts the client's calls to Redis: one per command outside a pipeline, one per
// pipeline (a Cluster pipeline goes to its nodes in parallel: one round trip of latency).
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

func guid(n int) string { return fmt.Sprintf("%08x-1111-4222-8333-%012x", n, n) }

func contact(n int) matcher.Record {
	return matcher.Record{Entity: "contact", ID: guid(n), Attrs: map[string]string{
		"firstname": "Ann", "lastname": fmt.Sprintf("Smith%d", n%3), "emailaddress1": fmt.Sprintf("ann%d@example.com", n),
	}}
}

func contactKeys(n int) []string {
	return []string{fmt.Sprintf("contact|emailaddress1|ann%d@example.com", n), fmt.Sprintf("contact|lastname|smith%d", n%3), "contact|firstname|ann"}
}

func TestRoundTrips(t *testing.T) {
	for name, addrs := range map[string]func(testing.TB) []string{
		"standalone": func(t testing.TB) []string { return []string{redistest.Standalone(t)} },
		"cluster":    redistest.Cluster,
	} {
		t.Run(name, func(t *testing.T) {
			// Warm: codes known. Writing a new record is four round trips (read its slot; count
			// its keys' records; write the entry; add the members), whatever the batch size;
			// re-filing it unchanged is one (the read). The change feed adds one to each (the
			// announcement, after the entry is written), unless it is off.
			for _, feed := range []bool{false, true} {
				rt := &roundTrips{}
				opts := []redisindex.Option{redisindex.WithHook(rt), redisindex.WithBuckets(64)}
				extra := int64(1)
				if !feed {
					opts, extra = append(opts, redisindex.WithFeedLength(-1)), 0
				}
				x := newIndex(t, addrs(t), opts...)
				for i := 0; i < 50; i++ {
					if err := x.Upsert(t.Context(), contact(i), contactKeys(i)); err != nil {
						t.Fatal(err)
					}
				}
				rt.n.Store(0)
				if err := x.Upsert(t.Context(), contact(100), contactKeys(100)); err != nil {
					t.Fatal(err)
				}
				if n := rt.n.Load(); n != 4+extra {
					t.Errorf("feed %v: Upsert of a new record: %d round trips, want %d", feed, n, 4+extra)
				}
				rt.n.Store(0)
				if err := x.Upsert(t.Context(), contact(7), contactKeys(7)); err != nil {
					t.Fatal(err)
				}
				if n := rt.n.Load(); n != 1+extra {
					t.Errorf("feed %v: Upsert of an unchanged record: %d round trips, want %d", feed, n, 1+extra)
				}
			}
			rt := &roundTrips{}
			x := newIndex(t, addrs(t), redisindex.WithHook(rt), redisindex.WithBuckets(64))
			for i := 0; i < 50; i++ {
				if err := x.Upsert(t.Context(), contact(i), contactKeys(i)); err != nil {
					t.Fatal(err)
				}
			}
			for i, q := range []rules.Lookup{
				{Keys: contactKeys(3), PerKeyLimit: 200},
				{Keys: contactKeys(4), PerKeyLimit: 200, Reserve: []string{"contact|emailaddress1|new@example.com", "contact|mobilephone|+447700900123"}, Holder: fmt.Sprint("h", 4), TTL: time.Minute},
				{Keys: []string{"contact|lastname|nobody"}, Reserve: []string{"contact|emailaddress1|x@example.com"}, Holder: "h", TTL: time.Minute},
			} {
				rt.n.Store(0)
				res, err := x.Lookup(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				if i < 2 && len(res.Records) < 10 {
					t.Fatalf("lookup %d found %d records; the test needs candidates", i, len(res.Records))
				}
				want := int64(2)
				if len(res.Records) == 0 {
					want = 1
				}
				if n := rt.n.Load(); n != want {
					t.Errorf("lookup %d (%d keys, %d reservations, %d records): %d round trips, want %d",
						i, len(q.Keys), len(q.Reserve), len(res.Records), n, want)
				}
			}

			// A blocked create's release takes no round trip of its own: the next lookup carries
			// it, ahead of its claims, so another holder's claim of the same key succeeds.
			held := []string{"contact|emailaddress1|new@example.com", "contact|mobilephone|+447700900123"}
			rt.n.Store(0)
			if err := x.Release(t.Context(), held, "h4"); err != nil {
				t.Fatal(err)
			}
			res, err := x.Lookup(t.Context(), rules.Lookup{Keys: contactKeys(5), PerKeyLimit: 200, Reserve: held, Holder: "other", TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Conflicts) != 0 {
				t.Fatalf("released keys still held: %v", res.Conflicts)
			}
			if n := rt.n.Load(); n != 2 {
				t.Errorf("release + lookup: %d round trips, want 2 (the release rides on the lookup)", n)
			}
			// With no lookup to carry it, a release goes on its own shortly after.
			rt.n.Store(0)
			if err := x.Release(t.Context(), held, "other"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for rt.n.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := rt.n.Load(); n != 1 {
				t.Fatalf("a release without a lookup: %d round trips, want 1", n)
			}
			res, err = x.Lookup(t.Context(), rules.Lookup{Reserve: held, Holder: "third", TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Conflicts) != 0 {
				t.Fatalf("keys released on their own still held: %v", res.Conflicts)
			}
		})
	}
}

// dropEntries deletes the record buckets behind the index's back, leaving the key buckets:
// what an eviction policy or a stray DEL would do.
func dropEntries(t *testing.T, c redis.UniversalClient, prefix string) int {
	t.Helper()
	n := 0
	iter := c.Scan(t.Context(), 0, prefix+"r:*", 100).Iterator()
	for iter.Next(t.Context()) {
		d, err := c.Del(t.Context(), iter.Val()).Result()
		if err != nil {
			t.Fatal(err)
		}
		n += int(d)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDanglingMembersAreSkipped(t *testing.T) {
	addr := redistest.Standalone(t)
	x := newIndex(t, []string{addr}, redisindex.WithBuckets(4))
	for i := 0; i < 3; i++ {
		if err := x.Upsert(t.Context(), contact(i), []string{"k"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := dropEntries(t, redistest.Client(t, addr), x.Prefix()); n == 0 {
		t.Fatal("no record bucket to drop")
	}
	res, err := x.Lookup(t.Context(), rules.Lookup{Keys: []string{"k"}})
	if err != nil {
		t.Fatalf("dangling members made the lookup fail: %v", err)
	}
	if len(res.Records) != 0 || x.Dangling() != 3 {
		t.Fatalf("records %d, dangling %d; want 0 and 3", len(res.Records), x.Dangling())
	}
	// Filing the records again heals the index.
	for i := 0; i < 3; i++ {
		if err := x.Upsert(t.Context(), contact(i), []string{"k"}); err != nil {
			t.Fatal(err)
		}
	}
	if res, _ := x.Lookup(t.Context(), rules.Lookup{Keys: []string{"k"}}); len(res.Records) != 3 {
		t.Fatalf("after refiling: %d records", len(res.Records))
	}
}

func TestRedisDownFailsFastAndHeals(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	x, err := redisindex.New(config.Redis{Addrs: []string{srv.Addr}, Prefix: "dg:",
		DialTimeout: config.Duration(200 * time.Millisecond), ReadTimeout: config.Duration(150 * time.Millisecond), WriteTimeout: config.Duration(150 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if err := x.Upsert(t.Context(), contact(1), contactKeys(1)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	q := rules.Lookup{Keys: contactKeys(1), Reserve: []string{"s|a"}, Holder: "h", TTL: time.Minute}
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond) // the engine's index timeout
		start := time.Now()
		_, err := x.Lookup(ctx, q)
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatal("lookup succeeded with Redis down")
		}
		if took > 600*time.Millisecond {
			t.Fatalf("lookup %d with Redis down took %v, beyond its 500ms budget", i, took)
		}
	}
	srv.Restart(t)
	var res rules.LookupResult
	deadline := time.Now().Add(5 * time.Second)
	for {
		if res, err = x.Lookup(t.Context(), q); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index did not recover after Redis came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(res.Records) != 1 || res.Records[0].ID != guid(1) {
		t.Fatalf("after restart: %+v", res.Records)
	}
}

func TestStartsWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	x, err := redisindex.New(config.Redis{Addrs: []string{srv.Addr}, DialTimeout: config.Duration(100 * time.Millisecond)})
	if err != nil {
		t.Fatalf("New needs no connection: %v", err)
	}
	defer x.Close()
	start := time.Now()
	if err := x.Ready(t.Context()); err == nil {
		t.Fatal("Ready with Redis down succeeded")
	}
	if _, err := x.Lookup(t.Context(), rules.Lookup{Keys: []string{"k"}}); err == nil {
		t.Fatal("Lookup with Redis down succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("failing without Redis took %v", took)
	}
	srv.Restart(t)
	if err := x.Ready(t.Context()); err != nil {
		t.Fatalf("Ready after Redis started: %v", err)
	}
	if err := x.Upsert(t.Context(), contact(1), []string{"k"}); err != nil {
		t.Fatal(err)
	}
}

func TestLayoutIsKeptWithTheIndex(t *testing.T) {
	addr := redistest.Standalone(t)
	prefix := redistest.Prefix(t)
	open := func(opts ...redisindex.Option) (*redisindex.Index, error) {
		x, err := redisindex.New(config.Redis{Addrs: []string{addr}, Prefix: prefix}, opts...)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { _ = x.Close() })
		return x, x.Ready(t.Context())
	}
	a, err := open(redisindex.WithBuckets(32))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Upsert(t.Context(), contact(1), contactKeys(1)); err != nil {
		t.Fatal(err)
	}
	// A second instance configured differently reads the same index the same way.
	b, err := open(redisindex.WithBuckets(4096))
	if err != nil {
		t.Fatal(err)
	}
	if b.Buckets() != 32 {
		t.Fatalf("second instance uses %d buckets, want the stored 32", b.Buckets())
	}
	res, err := b.Lookup(t.Context(), rules.Lookup{Keys: contactKeys(1)[:1]})
	if err != nil || len(res.Records) != 1 || res.Records[0].Unpacked().Attrs["firstname"] != "Ann" {
		t.Fatalf("second instance lookup: %+v %v", res.Records, err)
	}
	// A table and attribute first seen by b are readable by a (codes reloaded on demand).
	lead := matcher.Record{Entity: "lead", ID: guid(9), Attrs: map[string]string{"companyname": "Contoso"}}
	if err := b.Upsert(t.Context(), lead, []string{"lead|k"}); err != nil {
		t.Fatal(err)
	}
	res, err = a.Lookup(t.Context(), rules.Lookup{Keys: []string{"lead|k"}})
	if err != nil || len(res.Records) != 1 || res.Records[0].Entity != "lead" || res.Records[0].Unpacked().Attrs["companyname"] != "Contoso" {
		t.Fatalf("first instance reading the second's new table: %+v %v", res.Records, err)
	}
	if err := a.Delete(t.Context(), "lead", guid(9)); err != nil {
		t.Fatal(err)
	}
	if res, _ := b.Lookup(t.Context(), rules.Lookup{Keys: []string{"lead|k"}}); len(res.Records) != 0 {
		t.Fatalf("delete through the other instance: %+v", res.Records)
	}
	// A layout this version cannot read is refused, not misread.
	if err := redistest.Client(t, addr).HSet(t.Context(), prefix+"meta", "layout", "99").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := open(); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Fatalf("foreign layout: got %v", err)
	}
}

func TestNoPersonalDataInKeyNames(t *testing.T) {
	addr := redistest.Standalone(t)
	x := newIndex(t, []string{addr}, redisindex.WithBuckets(8))
	r := matcher.Record{Entity: "contact", ID: guid(1), Attrs: map[string]string{"emailaddress1": "zoe.secret@example.com"}}
	if err := x.Upsert(t.Context(), r, []string{"contact|emailaddress1|zoe.secret@example.com", "contact|mobilephone|+447700900555"}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Lookup(t.Context(), rules.Lookup{Reserve: []string{"contact|emailaddress1|zoe.secret@example.com"}, Holder: "h"}); err != nil {
		t.Fatal(err)
	}
	c := redistest.Client(t, addr)
	keys, err := c.Keys(t.Context(), x.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 3 {
		t.Fatalf("expected meta, bucket and reservation keys, got %q", keys)
	}
	for _, k := range keys {
		if strings.Contains(k, "zoe") || strings.Contains(k, "7700900555") || strings.Contains(k, "@") {
			t.Fatalf("key name %q carries personal data", k)
		}
		// Members are hashes and ids too; only the cached attributes hold the value.
		if typ := c.Type(t.Context(), k).Val(); typ == "zset" {
			for _, m := range c.ZRange(t.Context(), k, 0, -1).Val() {
				if strings.Contains(m, "zoe") || strings.Contains(m, "@") {
					t.Fatalf("member of %q carries personal data", k)
				}
			}
		}
	}
}

func TestBucketsStayCompact(t *testing.T) {
	addr := redistest.Standalone(t)
	x := newIndex(t, []string{addr}, redisindex.WithBuckets(64))
	var entries []index.Entry
	for i := 0; i < 1500; i++ {
		entries = append(entries, index.Entry{Record: contact(i), Keys: []string{fmt.Sprintf("e|%d", i), fmt.Sprintf("p|%d", i), fmt.Sprintf("l|%d", i%500)}})
	}
	if err := x.UpsertBatch(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	c := redistest.Client(t, addr)
	// 4500 members over 64 buckets: about 70 each, under Redis's listpack limit of 128.
	for b := 0; b < 64; b += 9 {
		enc, err := c.ObjectEncoding(t.Context(), fmt.Sprintf("%sk:%d", x.Prefix(), b)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if enc != "listpack" && enc != "ziplist" {
			t.Fatalf("key bucket %d has encoding %q, want the compact listpack", b, enc)
		}
	}
}

func TestBigKeysGetTheirOwnList(t *testing.T) {
	for _, buckets := range []int{1, redisindex.DefaultBuckets} {
		t.Run(fmt.Sprintf("buckets=%d", buckets), func(t *testing.T) {
			addr := redistest.Standalone(t)
			x := newIndex(t, []string{addr}, redisindex.WithBuckets(buckets))
			c := redistest.Client(t, addr)
			// 1000 records under one key, written one by one and in batches.
			for i := 0; i < 50; i++ {
				if err := x.Upsert(t.Context(), contact(i), []string{"contact|nm|SM0J", fmt.Sprintf("own|%d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			var batch []index.Entry
			for i := 50; i < 1000; i++ {
				batch = append(batch, index.Entry{Record: contact(i), Keys: []string{"contact|nm|SM0J", fmt.Sprintf("own|%d", i)}})
			}
			if err := x.UpsertBatch(t.Context(), batch); err != nil {
				t.Fatal(err)
			}
			res, err := x.Lookup(t.Context(), rules.Lookup{Keys: []string{"contact|nm|SM0J"}})
			if err != nil || len(res.Records) != 1000 {
				t.Fatalf("big key: %d records, %v", len(res.Records), err)
			}
			// The buckets hold the 1000 small keys, the big key's marker and, with few buckets,
			// at most a few dozen copies of its first members; its records are in its list.
			var members int64
			iter := c.Scan(t.Context(), 0, x.Prefix()+"k:*", 1000).Iterator()
			for iter.Next(t.Context()) {
				members += c.ZCard(t.Context(), iter.Val()).Val()
			}
			limit := int64(1000 + 1)
			if buckets < 1<<16 {
				limit += 25
			}
			if members > limit {
				t.Fatalf("buckets hold %d members, want at most %d: the big key was not moved out", members, limit)
			}
			lists, err := c.Keys(t.Context(), x.Prefix()+"b:*").Result()
			if err != nil || len(lists) != 1 {
				t.Fatalf("lists: %v %v", lists, err)
			}
			if n := c.LLen(t.Context(), lists[0]).Val(); n != 1000 {
				t.Fatalf("list holds %d records, want 1000", n)
			}
			if enc := c.ObjectEncoding(t.Context(), lists[0]).Val(); enc != "quicklist" && enc != "listpack" {
				t.Fatalf("list encoding %q", enc)
			}
			// Deleting records takes them out of the list.
			for i := 0; i < 10; i++ {
				if err := x.Delete(t.Context(), "contact", guid(i)); err != nil {
					t.Fatal(err)
				}
			}
			if n := c.LLen(t.Context(), lists[0]).Val(); n != 990 {
				t.Fatalf("list holds %d records after 10 deletes, want 990", n)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := redisindex.New(config.Redis{}); err == nil {
		t.Fatal("no address accepted")
	}
	if _, err := redisindex.New(config.Redis{Addrs: []string{"127.0.0.1:1"}}, redisindex.WithBuckets(1000)); err == nil {
		t.Fatal("bucket count 1000 (not a power of two) accepted")
	}
	// A port nobody listens on: a clear error, quickly.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	x, err := redisindex.New(config.Redis{Addrs: []string{addr}, DialTimeout: config.Duration(100 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Ready(t.Context()); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Ready against a closed port: %v", err)
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Logf("ready error: %v", err)
	}
}

// TestDataLossUnderARunningInstance: Redis loses the index (restart without persistence,
// flush) while instance A runs; instance B then allocates name codes afresh. A must not read
// B's records with its old codes, nor write with them.
func TestDataLossUnderARunningInstance(t *testing.T) {
	addr := redistest.Standalone(t)
	a := newIndex(t, []string{addr}, redisindex.WithBuckets(16))
	prefix := a.Prefix()
	first := matcher.Record{Entity: "contact", ID: guid(1), Attrs: map[string]string{"firstname": "Ann"}}
	if err := a.Upsert(t.Context(), first, []string{"k1"}); err != nil {
		t.Fatal(err)
	}
	c := redistest.Client(t, addr)
	keys, _ := c.Keys(t.Context(), prefix+"*").Result()
	if err := c.Del(t.Context(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := redisindex.New(config.Redis{Addrs: []string{addr}, Prefix: prefix}, redisindex.WithBuckets(16))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// B's first attribute gets the code A knows as firstname's, its first table contact's.
	city := matcher.Record{Entity: "account", ID: guid(2), Attrs: map[string]string{"address1_city": "Leeds"}}
	if err := b.Upsert(t.Context(), city, []string{"k2"}); err != nil {
		t.Fatal(err)
	}
	res, err := a.Lookup(t.Context(), rules.Lookup{Keys: []string{"k2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 || res.Records[0].Entity != "account" || res.Records[0].Unpacked().Attrs["address1_city"] != "Leeds" {
		t.Fatalf("A read B's record as %+v", res.Records)
	}
	// A writes with the current codes too.
	if err := a.Upsert(t.Context(), first, []string{"k1"}); err != nil {
		t.Fatal(err)
	}
	res, err = b.Lookup(t.Context(), rules.Lookup{Keys: []string{"k1"}})
	if err != nil || len(res.Records) != 1 || res.Records[0].Entity != "contact" || res.Records[0].Unpacked().Attrs["firstname"] != "Ann" {
		t.Fatalf("B read A's record as %+v (%v)", res.Records, err)
	}
}

// TestKnownBigKeysAreNotRead: a key whose block is over its maximum because it has a list
// (more records than a bucket keeps) is read once by an instance that did not write it, and
// skipped without a read from then on, with the same answer; a lookup that reads the key
// without a maximum still gets all its records.
func TestKnownBigKeysAreNotRead(t *testing.T) {
	addr := redistest.Standalone(t)
	prefix := redistest.Prefix(t)
	open := func(opts ...redisindex.Option) *redisindex.Index {
		x, err := redisindex.New(config.Redis{Addrs: []string{addr}, Prefix: prefix}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = x.Close() })
		return x
	}
	writer := open()
	var batch []index.Entry
	for i := range 40 {
		batch = append(batch, index.Entry{Record: contact(i), Keys: []string{"contact|bd|1980-01-01", fmt.Sprintf("own|%d", i)}})
	}
	if err := writer.UpsertBatch(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	cmds := &cmdCounter{} // decide_bench_test.go
	reader := open(redisindex.WithHook(cmds))
	// Warm up the reader (metadata, name codes) with a lookup that does not touch the big key.
	if _, err := reader.Lookup(t.Context(), rules.Lookup{Keys: []string{"own|3"}}); err != nil {
		t.Fatal(err)
	}
	q := rules.Lookup{Keys: []string{"contact|bd|1980-01-01", "own|7"}, MaxBlocks: []int{10}}
	var sent []int64
	for range 2 {
		before := cmds.cmds.Load()
		res, err := reader.Lookup(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 1 || res.Records[0].ID != guid(7) {
			t.Fatalf("lookup found %d records, want only contact 7 (the big key is over its maximum)", len(res.Records))
		}
		sent = append(sent, cmds.cmds.Load()-before)
	}
	if sent[1] != sent[0]-1 {
		t.Fatalf("commands per lookup %v: the second should skip the known big key's read", sent)
	}
	res, err := reader.Lookup(t.Context(), rules.Lookup{Keys: []string{"contact|bd|1980-01-01"}})
	if err != nil || len(res.Records) != 40 {
		t.Fatalf("without a maximum the big key gave %d records (%v), want 40", len(res.Records), err)
	}
}
