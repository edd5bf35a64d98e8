package redisindex

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/index/indextest"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// gateHook holds the first pipeline until the gate opens and counts pipelines.
type gateHook struct {
	gate      chan struct{}
	pipelines atomic.Int64
	cmds      atomic.Int64 // commands sent in pipelines
	held      atomic.Bool
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		h.cmds.Add(int64(len(cmds)))
		if h.held.CompareAndSwap(false, true) {
			<-h.gate
		}
		return next(ctx, cmds)
	}
}

func (r *roundTrips) queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

func waitQueued(t *testing.T, r *roundTrips, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d trips queued, want %d", r.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSharedRoundTrips: lookups that come while the round trips in flight are busy go out
// together in one pipeline, and each reads its own replies and its own errors: a missing key
// is its redis.Nil, a command on the wrong type its error, a context that ends while waiting
// its context error, and nothing of one lookup shows in another's.
func TestSharedRoundTrips(t *testing.T) {
	t.Run("standalone", func(t *testing.T) { testSharedRoundTrips(t, redistest.Client(t, redistest.Standalone(t))) })
	t.Run("cluster", func(t *testing.T) { testSharedRoundTrips(t, redistest.Client(t, redistest.Cluster(t)...)) })
}

func testSharedRoundTrips(t *testing.T, c redis.UniversalClient) {
	h := &gateHook{gate: make(chan struct{})}
	c.AddHook(h)
	ctx := context.Background()
	p := redistest.Prefix(t)
	if err := c.Set(ctx, p+"str", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	r := &roundTrips{client: c, max: 1}

	// The first lookup takes the only round trip and is held in the hook.
	first := redis.NewStringCmd(ctx, "echo", "first")
	firstErr := make(chan error, 1)
	go func() { firstErr <- r.do(ctx, []redis.Cmder{first}, nil) }()
	for h.pipelines.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	const n = 12
	echoes := make([]*redis.StringCmd, n)
	sames := make([]*redis.StringCmd, n) // a read alike for all (the epoch), but for trip 7's
	errs := make([]error, n)
	sent := 0 // commands the waiting trips would send apart
	var wg sync.WaitGroup
	for i := range n {
		echoes[i] = redis.NewStringCmd(ctx, "echo", "trip-"+strconv.Itoa(i))
		sames[i] = redis.NewStringCmd(ctx, "get", p+"str")
		if i == 7 {
			sames[i] = redis.NewStringCmd(ctx, "echo", "another read")
		}
		cmds := []redis.Cmder{sames[i], echoes[i]}
		switch i {
		case 3:
			cmds = append(cmds, redis.NewStringCmd(ctx, "get", p+"missing"))
		case 5:
			cmds = append(cmds, redis.NewStringCmd(ctx, "hget", p+"str", "f"))
		}
		sent += len(cmds)
		wg.Go(func() { errs[i] = r.do(ctx, cmds, sames[i]) })
	}
	waitQueued(t, r, n)
	// One more whose context ends while it waits.
	short, cancel := context.WithCancel(ctx)
	lateErr := make(chan error, 1)
	go func() { lateErr <- r.do(short, []redis.Cmder{redis.NewStringCmd(short, "echo", "late")}, nil) }()
	waitQueued(t, r, n+1)
	cancel()
	if err := <-lateErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("a trip whose context ended returned %v, want context.Canceled", err)
	}

	close(h.gate)
	if err := <-firstErr; err != nil || first.Val() != "first" {
		t.Fatalf("first trip: %q, %v", first.Val(), err)
	}
	wg.Wait()
	for i := range n {
		want := "trip-" + strconv.Itoa(i)
		if echoes[i].Val() != want {
			t.Errorf("trip %d read %q, want %q", i, echoes[i].Val(), want)
		}
		wantSame := "v"
		if i == 7 {
			wantSame = "another read"
		}
		if sames[i].Val() != wantSame || sames[i].Err() != nil {
			t.Errorf("trip %d's shared read: %q, %v; want %q", i, sames[i].Val(), sames[i].Err(), wantSame)
		}
		switch i {
		case 3:
			if !errors.Is(errs[i], redis.Nil) {
				t.Errorf("trip with a missing key: %v, want redis.Nil", errs[i])
			}
		case 5:
			if errs[i] == nil || errors.Is(errs[i], redis.Nil) {
				t.Errorf("trip with a wrong-type command: %v, want WRONGTYPE", errs[i])
			}
		default:
			if errs[i] != nil {
				t.Errorf("trip %d: %v (another trip's error?)", i, errs[i])
			}
		}
	}
	if got := h.pipelines.Load(); got != 2 {
		t.Errorf("%d pipelines for 1 + %d lookups, want 2 (the waiting ones shared one)", got, n+1)
	}
	// The first trip's command, the late one's, and the waiting trips' with their alike read
	// sent once (trip 7's differs: sent too).
	if got, want := h.cmds.Load(), int64(1+1+sent-(n-2)); got != want {
		t.Errorf("%d commands sent, want %d (one alike read for the waiting trips)", got, want)
	}
	// A lone lookup goes out at once, on its own.
	lone := redis.NewStringCmd(ctx, "echo", "lone")
	if err := r.do(ctx, []redis.Cmder{lone}, nil); err != nil || lone.Val() != "lone" {
		t.Fatalf("lone trip: %q, %v", lone.Val(), err)
	}
	if got := h.pipelines.Load(); got != 3 {
		t.Errorf("%d pipelines after a lone lookup, want 3", got)
	}
}

// TestSharedRoundTripsRedisDown: when Redis is unreachable every lookup sharing the round
// trip gets the connection error, none hangs.
func TestSharedRoundTripsRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	c := redistest.Client(t, srv.Addr)
	r := &roundTrips{client: c, max: 1}
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = r.do(ctx, []redis.Cmder{redis.NewStringCmd(ctx, "echo", "x")}, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("lookup %d with Redis down: %v, want the connection error", i, err)
		}
	}
}

// TestConformanceWithScriptClaims runs the conformance suite with every claim made by the
// reservation script, as on a server without SET NX GET (Redis 6).
func TestConformanceWithScriptClaims(t *testing.T) {
	addr := redistest.Standalone(t)
	indextest.Run(t, func(t *testing.T) indextest.Index {
		x := newTestIndex(t, []string{addr}, 1024)
		st, err := x.ensure(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !st.setNXGet {
			t.Fatal("redis-server 7 takes SET NX GET, but the probe said no")
		}
		st.setNXGet = false
		return x
	})
}

// TestSingleKeyRetryRestartsTTL: a single-key claim repeated by its holder (Dataverse's retry)
// restarts the reservation's time to live, as the script does for several keys; another
// holder is refused until then and gets the key after.
func TestSingleKeyRetryRestartsTTL(t *testing.T) {
	addr := redistest.Standalone(t)
	x := newTestIndex(t, []string{addr}, 1024)
	claim := func(holder string) []string {
		t.Helper()
		res, err := x.Lookup(t.Context(), rules.Lookup{Reserve: []string{"contact|emailaddress1|a@x.com"}, Holder: holder, TTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return res.Conflicts
	}
	start := time.Now()
	if c := claim("A"); len(c) != 0 {
		t.Fatalf("first claim: %v", c)
	}
	time.Sleep(600 * time.Millisecond)
	if c := claim("A"); len(c) != 0 {
		t.Fatalf("retry by the holder: %v", c)
	}
	retried := time.Now()
	time.Sleep(time.Until(start.Add(1300 * time.Millisecond)))
	if c := claim("B"); len(c) != 1 && time.Since(retried) < time.Second {
		t.Fatalf("another holder 1.3 s after the first claim, 0.7 s after the retry: %v (the retry did not restart the TTL)", c)
	}
	time.Sleep(time.Until(retried.Add(1500 * time.Millisecond)))
	if c := claim("B"); len(c) != 0 {
		t.Fatalf("another holder after the restarted TTL ran out: %v", c)
	}
}

// TestNotALateReserver: the Redis index claims a create's reservations in its lookup's round
// trip; were it a rules.LateReserver, the engine would claim them in a round trip of their own.
func TestNotALateReserver(t *testing.T) {
	var x any = (*Index)(nil)
	if _, late := x.(rules.LateReserver); late {
		t.Fatal("*redisindex.Index implements rules.LateReserver: decisions would take an extra round trip")
	}
}

// TestFeedNamesEveryWrite: the change feed names every record written or deleted, changed or
// not (a write retried after its announcement failed finds the record as it wrote it), after
// the record's entry is written.
func TestFeedNamesEveryWrite(t *testing.T) {
	x := newTestIndex(t, []string{redistest.Standalone(t)}, 1024)
	feed := func() int64 {
		n, err := x.Client().XLen(t.Context(), x.FeedKey()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	rec := matcher.Record{Entity: "contact", ID: "11111111-2222-4333-8444-555555555555", Attrs: map[string]string{"lastname": "Smith"}}
	for i, step := range []func() error{
		func() error { return x.Upsert(t.Context(), rec, []string{"k1"}) },
		func() error { return x.Upsert(t.Context(), rec, []string{"k1"}) }, // unchanged
		func() error { return x.Delete(t.Context(), "contact", rec.ID) },
		func() error { return x.Delete(t.Context(), "contact", rec.ID) }, // gone already
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		if n := feed(); n != int64(i+1) {
			t.Fatalf("after step %d the feed holds %d entries, want %d", i+1, n, i+1)
		}
	}
	msgs, err := x.Client().XRange(t.Context(), x.FeedKey(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		ref, writer, ok := FeedRef(m)
		if id, _ := RefID(ref); !ok || id != rec.ID || writer != x.Writer() {
			t.Fatalf("feed entry %v: ref id %q, writer %q", m.Values, id, writer)
		}
	}
}
