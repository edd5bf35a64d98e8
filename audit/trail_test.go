package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

func contactRule(t testing.TB, action rules.Action) *rules.Rule {
	t.Helper()
	m, err := matcher.Compile(matcher.RuleSpec{
		Name: "contact-email", Entity: "contact",
		Fields: []matcher.FieldSpec{
			{Attr: "emailaddress1", Comparator: "email", Weight: 3, Blocking: true, Strong: true},
			{Attr: "lastname", Comparator: "lastname", Weight: 1, Blocking: true},
			{Attr: "firstname", Comparator: "firstname", Weight: 1},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rules.Rule{Name: "contact-email", Entity: "contact", CandidateEntity: "contact", Matcher: m,
		BlockThreshold: 0.75, WarnThreshold: 0.5, MergeThreshold: 0.99, Action: action}
}

const robertID = "6d81597f-0f9f-e711-8122-000d3aa2331c"

var robert = matcher.Record{Entity: "contact", ID: robertID, Attrs: map[string]string{
	"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@example.com", "fullname": "Robert Smith"}}

// stepClock returns t0, t0+2ms, t0+4ms...: the engine reads it at the start and end of a
// decision, so every decision's latency is 2 ms.
func stepClock(t0 time.Time) func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n-1) * 2 * time.Millisecond)
	}
}

// TestBlockBecomesEntry runs a real engine over a real index: a blocked save must give exactly
// one entry, the expected one, in the in-process ring and in a real Redis stream, and one log
// line without reason texts or personal data.
func TestBlockBecomesEntry(t *testing.T) {
	stores := map[string]func(t *testing.T) audit.Store{
		"ring": func(t *testing.T) audit.Store { return audit.NewRing(100) },
		"redis": func(t *testing.T) audit.Store {
			addr := redistest.Standalone(t)
			return audit.NewRedisStore(redistest.Client(t, addr), redistest.Prefix(t)+"audit", 1000)
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock)})
			idx := index.NewMemory()
			if err := idx.Upsert(t.Context(), robert, set.IndexKeys(robert)); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			store := mk(t)
			tr := audit.New(store, zap.New(core), audit.Options{Mask: true, Log: true})
			t0 := time.Date(2025, 11, 26, 20, 46, 40, 0, time.UTC)
			eng := rules.NewEngine(set, idx, rules.EngineConfig{}, rules.WithObserver(tr), rules.WithClock(stepClock(t0)))

			bob := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "Robert.Smith@example.com"}}
			d := eng.Decide(t.Context(), rules.Request{Record: bob, Message: "Create", EntryPoint: rules.EntryForm,
				UserID: "75c2dd85-e89e-e711-8122-000d3aa2331c", UserAADID: "aaaa0000-bb11-2222-33cc-444444dddddd",
				CorrelationID: "b374239d-4233-41a9-8b17-a86cb4f737b5"})
			if d.Outcome != rules.OutcomeBlock || len(d.Matches) != 1 {
				t.Fatalf("want one blocking match, got %+v", d)
			}
			// An allowed save of someone else makes no entry.
			eng.Decide(t.Context(), rules.Request{Record: matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Ann", "lastname": "Jones", "emailaddress1": "ann@example.org"}}, Message: "Create", EntryPoint: rules.EntryForm})
			if err := tr.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			got, err := tr.List(t.Context(), t0.Add(-time.Hour), audit.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("want exactly 1 entry, got %d: %+v", len(got), got)
			}
			e := got[0]
			if e.ID == "" {
				t.Error("entry has no store id")
			}
			reasons := e.Matches[0].Reasons
			want := audit.Entry{
				ID: e.ID, Time: t0, Kind: audit.KindBlock, Outcome: "block", Table: "contact", Message: "Create",
				EntryPoint: "form", UserID: "75c2dd85-e89e-e711-8122-000d3aa2331c", UserAADID: "aaaa0000-bb11-2222-33cc-444444dddddd",
				CorrelationID: "b374239d-4233-41a9-8b17-a86cb4f737b5", LatencyMS: 2,
				Matches: []audit.Match{{Rule: "contact-email", Action: "block", Level: "block", Entity: "contact", ID: robertID,
					Score: d.Matches[0].Score, Reasons: reasons}},
			}
			if !jsonEqual(t, e, want) {
				t.Fatalf("entry:\n got %s\nwant %s", js(t, e), js(t, want))
			}
			t.Logf("reasons %q masked to %q", d.Matches[0].Reasons, reasons)
			if len(reasons) == 0 || len(reasons) != len(d.Matches[0].Reasons) {
				t.Fatalf("reasons: %q from %q", reasons, d.Matches[0].Reasons)
			}
			for _, r := range reasons {
				for _, v := range []string{"robert", "smith", "example"} {
					if strings.Contains(strings.ToLower(r), v) {
						t.Errorf("masked reason %q carries %q", r, v)
					}
				}
			}
			// One log line, with ids and the rule, never reasons or names.
			lines := logs.FilterMessage("audit").All()
			if len(lines) != 1 {
				t.Fatalf("want 1 audit log line, got %d", len(lines))
			}
			fields := lines[0].ContextMap()
			if fields["kind"] != "block" || fields["correlation_id"] != "b374239d-4233-41a9-8b17-a86cb4f737b5" || fmt.Sprint(fields["matched"]) != "[contact/"+robertID+"]" {
				t.Errorf("log fields: %v", fields)
			}
			line := strings.ToLower(fmt.Sprint(fields))
			for _, v := range append([]string{"robert", "smith", "example.com"}, d.Matches[0].Reasons...) {
				if v != "" && strings.Contains(line, strings.ToLower(v)) {
					t.Errorf("log line carries %q: %s", v, line)
				}
			}
			if err := tr.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnmaskedKeepsReasonsAndNames(t *testing.T) {
	ev := rules.Event{Time: time.Unix(0, 0), Request: rules.Request{Record: matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Bob"}}},
		Decision: rules.Decision{Outcome: rules.OutcomeWarn, Matches: []rules.Match{{Rule: "r", Action: rules.ActionWarn, Level: rules.OutcomeWarn,
			Entity: "contact", ID: "1", Name: "Robert Smith", Score: 0.6, Reasons: []string{"first name Bob ~ Robert (nickname)"}}}}}
	e, ok := audit.FromEvent(ev, false)
	if !ok || e.Matches[0].Name != "Robert Smith" || e.Matches[0].Reasons[0] != "first name Bob ~ Robert (nickname)" {
		t.Fatalf("unmasked: %+v", e)
	}
	e, _ = audit.FromEvent(ev, true)
	if e.Matches[0].Name != "" || e.Matches[0].Reasons[0] != "first name ~ (nickname)" {
		t.Fatalf("masked: %+v", e)
	}
}

func TestKindOf(t *testing.T) {
	m := func(a rules.Action, l rules.Outcome) rules.Match { return rules.Match{Rule: "r", Action: a, Level: l} }
	tests := []struct {
		name string
		d    rules.Decision
		want audit.Kind
	}{
		{"plain allow", rules.Decision{Outcome: rules.OutcomeAllow}, ""},
		{"fallback open", rules.Decision{Outcome: rules.OutcomeAllow, Fallback: "fail-open"}, audit.KindFallback},
		{"fallback closed", rules.Decision{Outcome: rules.OutcomeBlock, Fallback: "fail-closed"}, audit.KindFallback},
		{"override", rules.Decision{Outcome: rules.OutcomeAllow, Overridden: true, Matches: []rules.Match{m(rules.ActionBlock, rules.OutcomeBlock)}}, audit.KindOverride},
		{"block", rules.Decision{Outcome: rules.OutcomeBlock, Matches: []rules.Match{m(rules.ActionBlock, rules.OutcomeBlock)}}, audit.KindBlock},
		{"warn", rules.Decision{Outcome: rules.OutcomeWarn, Matches: []rules.Match{m(rules.ActionWarn, rules.OutcomeBlock)}}, audit.KindWarn},
		{"audit mode", rules.Decision{Outcome: rules.OutcomeAllow, Matches: []rules.Match{m(rules.ActionAudit, rules.OutcomeBlock)}}, audit.KindAudit},
		{"review", rules.Decision{Outcome: rules.OutcomeAllow, Matches: []rules.Match{m(rules.ActionReview, rules.OutcomeBlock)}}, audit.KindAction},
	}
	for _, tc := range tests {
		if got := audit.KindOf(tc.d); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// blockingStore blocks every Append until released: a store that has stopped answering.
type blockingStore struct {
	audit.Store
	release chan struct{}
	calls   atomic.Int64
}

func (b *blockingStore) Append(ctx context.Context, es []audit.Entry) error {
	b.calls.Add(1)
	<-b.release
	return b.Store.Append(ctx, es)
}

type counter struct{ n atomic.Int64 }

func (c *counter) Inc() { c.n.Add(1) }

// TestFullQueueDropsWithoutBlocking: with the writer stuck, Observe must return at once,
// count every dropped entry and log the drops (rate-limited), and the queued entries must be
// written once the store answers again.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	store := &blockingStore{Store: audit.NewRing(1000), release: make(chan struct{})}
	core, logs := observer.New(zapcore.WarnLevel)
	var dropped counter
	tr := audit.New(store, zap.New(core), audit.Options{Buffer: 16, BatchSize: 4, Dropped: &dropped})
	ev := func(i int) rules.Event {
		return rules.Event{Time: time.Unix(int64(i), 0), Request: rules.Request{Record: matcher.Record{Entity: "contact"}, CorrelationID: fmt.Sprint(i)},
			Decision: rules.Decision{Outcome: rules.OutcomeBlock, Fallback: "fail-closed"}}
	}
	tr.Observe(t.Context(), ev(0))
	deadline := time.Now().Add(5 * time.Second)
	for store.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	for i := 1; i <= 100; i++ {
		tr.Observe(t.Context(), ev(i))
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Observe blocked: 100 calls took %v", el)
	}
	// 1 entry in the stuck write, 16 queued, 84 dropped.
	if got := dropped.n.Load(); got != 84 {
		t.Fatalf("dropped: want 84, got %d", got)
	}
	if n := logs.FilterMessage("audit entries dropped: the audit queue is full").Len(); n != 1 {
		t.Fatalf("want 1 rate-limited drop line, got %d", n)
	}
	close(store.release)
	if err := tr.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, _ := store.List(t.Context(), time.Time{}, audit.Filter{})
	if len(got) != 17 {
		t.Fatalf("want 17 stored entries, got %d", len(got))
	}
	if tr.Record(audit.Entry{Kind: audit.KindBlock}) {
		t.Fatal("a closed trail accepted an entry")
	}
}

// TestRedisOutageRetries: entries written while Redis is down are kept and written once it
// is back (within RetryFor); a real server is killed and restarted.
func TestRedisOutageRetries(t *testing.T) {
	srv := redistest.Start(t)
	// No client-side retries: the trail's own retry is what is tested.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DisableIdentity: true})
	t.Cleanup(func() { _ = client.Close() })
	store := audit.NewRedisStore(client, "audit", 1000)
	var lost counter
	core, logs := observer.New(zapcore.WarnLevel)
	tr := audit.New(store, zap.New(core), audit.Options{WriteErrors: &lost, RetryFor: 20 * time.Second})
	srv.Kill()
	tr.Record(audit.Entry{Kind: audit.KindBlock, Table: "contact", CorrelationID: "during-outage"})
	for deadline := time.Now().Add(10 * time.Second); logs.FilterMessage("audit store write failed; retrying").Len() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the write during the outage did not fail: the test proves nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Restart(t)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := store.List(t.Context(), time.Time{}, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].CorrelationID != "during-outage" || lost.n.Load() != 0 {
		t.Fatalf("after the outage: %+v, lost %d", got, lost.n.Load())
	}
}

func jsonEqual(t *testing.T, a, b any) bool { return js(t, a) == js(t, b) }

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// countingStore counts the writer's store calls and the entries in each.
type countingStore struct {
	audit.Store
	mu    sync.Mutex
	sizes []int
}

func (c *countingStore) Append(ctx context.Context, es []audit.Entry) error {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(es))
	c.mu.Unlock()
	return c.Store.Append(ctx, es)
}

func (c *countingStore) calls() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sizes)
}

// TestLingerBatches: entries queued while the writer lingers go out in one store call; with
// no linger each entry the writer finds alone is its own call; a flush does not wait for the
// linger.
func TestLingerBatches(t *testing.T) {
	entry := func(i int) audit.Entry {
		return audit.Entry{Kind: audit.KindBlock, Table: "contact", CorrelationID: fmt.Sprint(i), Time: time.Unix(int64(i), 0)}
	}
	t.Run("linger", func(t *testing.T) {
		store := &countingStore{Store: audit.NewRing(100)}
		tr := audit.New(store, nil, audit.Options{Linger: 300 * time.Millisecond})
		defer tr.Close(t.Context())
		for i := range 5 {
			tr.Record(entry(i))
			time.Sleep(10 * time.Millisecond) // well inside the linger
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(store.calls()) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := store.calls(); !slices.Equal(got, []int{5}) {
			t.Fatalf("store calls (entries each): %v, want one call of 5", got)
		}
	})
	t.Run("flush cuts it short", func(t *testing.T) {
		store := &countingStore{Store: audit.NewRing(100)}
		tr := audit.New(store, nil, audit.Options{Linger: time.Hour})
		defer tr.Close(t.Context())
		tr.Record(entry(1))
		tr.Record(entry(2))
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := store.calls(); !slices.Equal(got, []int{2}) {
			t.Fatalf("store calls after flush: %v, want one call of 2", got)
		}
	})
	t.Run("none", func(t *testing.T) {
		store := &countingStore{Store: audit.NewRing(100)}
		tr := audit.New(store, nil, audit.Options{Linger: -1})
		defer tr.Close(t.Context())
		for i := range 3 {
			tr.Record(entry(i))
			deadline := time.Now().Add(5 * time.Second)
			for len(store.calls()) <= i && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		if got := store.calls(); !slices.Equal(got, []int{1, 1, 1}) {
			t.Fatalf("store calls: %v, want three calls of 1", got)
		}
	})
}
