package rules_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

func contactRule(t testing.TB, action rules.Action, byEntry map[string]rules.Action) *rules.Rule {
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
		BlockThreshold: 0.75, WarnThreshold: 0.5, MergeThreshold: 0.99, Action: action, ActionsByEntry: byEntry}
}

var robert = matcher.Record{Entity: "contact", ID: "6d81597f-0f9f-e711-8122-000d3aa2331c", Attrs: map[string]string{
	"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@example.com"}}

func seeded(t testing.TB, set *rules.Set) *index.Memory {
	idx := index.NewMemory()
	if err := idx.Upsert(context.Background(), robert, set.IndexKeys(robert)); err != nil {
		t.Fatal(err)
	}
	return idx
}

func rec(first, last, email string) matcher.Record {
	return matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": first, "lastname": last, "emailaddress1": email}}
}

// slowIndex delays every lookup, standing in for a Redis that is slow or down.
type slowIndex struct {
	rules.Index
	delay time.Duration
	err   error
}

func (s slowIndex) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return rules.LookupResult{}, ctx.Err()
	}
	if s.err != nil {
		return rules.LookupResult{}, s.err
	}
	return s.Index.Lookup(ctx, q)
}

type fallbackFunc func(ctx context.Context, rs []*rules.Rule, r matcher.Record) ([]matcher.Record, error)

func (f fallbackFunc) Candidates(ctx context.Context, rs []*rules.Rule, r matcher.Record) ([]matcher.Record, error) {
	return f(ctx, rs, r)
}

func TestDecide(t *testing.T) {
	dup := rec("Robert", "Smith", "Robert.Smith@example.com")
	near := rec("Jane", "Smith", "robert.smith@example.com")    // email + last name: 0.8
	weak := rec("Robert", "Smith", "other@example.com")         // names only: 0.4
	emailOnly := rec("Jane", "Doe", "robert.smith@example.com") // 0.6: warn level
	tests := []struct {
		name      string
		action    rules.Action
		byEntry   map[string]rules.Action
		entry     string
		record    matcher.Record
		idx       func(rules.Index) rules.Index
		fallback  rules.FallbackSource
		policy    map[string]rules.Policy
		want      rules.Outcome
		wantFB    string
		wantMatch int
		wantAct   rules.Action
	}{
		{name: "exact duplicate blocks", action: rules.ActionBlock, record: dup, want: rules.OutcomeBlock, wantMatch: 1, wantAct: rules.ActionBlock},
		{name: "near duplicate blocks", action: rules.ActionBlock, record: near, want: rules.OutcomeBlock, wantMatch: 1},
		{name: "below block threshold warns", action: rules.ActionBlock, record: emailOnly, want: rules.OutcomeWarn, wantMatch: 1},
		{name: "below warn threshold allows", action: rules.ActionBlock, record: weak, want: rules.OutcomeAllow},
		{name: "unique allows", action: rules.ActionBlock, record: rec("Anna", "Nowak", "anna@example.pl"), want: rules.OutcomeAllow},
		{name: "warn mode allows with warning", action: rules.ActionWarn, record: dup, want: rules.OutcomeWarn, wantMatch: 1, wantAct: rules.ActionWarn},
		{name: "audit mode allows, match recorded", action: rules.ActionAudit, record: dup, want: rules.OutcomeAllow, wantMatch: 1, wantAct: rules.ActionAudit},
		{name: "notify allows", action: rules.ActionNotify, record: dup, want: rules.OutcomeAllow, wantMatch: 1, wantAct: rules.ActionNotify},
		{name: "merge above merge threshold", action: rules.ActionMerge, record: dup, want: rules.OutcomeAllow, wantMatch: 1, wantAct: rules.ActionMerge},
		{name: "merge below merge threshold becomes review", action: rules.ActionMerge, record: near, want: rules.OutcomeAllow, wantMatch: 1, wantAct: rules.ActionReview},
		{name: "per entry point action", action: rules.ActionBlock, byEntry: map[string]rules.Action{rules.EntryIntegration: rules.ActionReview},
			entry: rules.EntryIntegration, record: dup, want: rules.OutcomeAllow, wantMatch: 1, wantAct: rules.ActionReview},
		{name: "slow index fails open", action: rules.ActionBlock, record: dup, idx: slow(time.Second, nil), want: rules.OutcomeAllow, wantFB: "fail-open"},
		{name: "slow index fails closed by table policy", action: rules.ActionBlock, record: rec("Anna", "Nowak", "a@b.pl"), idx: slow(time.Second, nil),
			policy: map[string]rules.Policy{"contact": rules.FailClosed}, want: rules.OutcomeBlock, wantFB: "fail-closed"},
		{name: "index error uses fallback source", action: rules.ActionBlock, record: dup, idx: slow(0, errors.New("connection refused")),
			fallback: fallbackFunc(func(ctx context.Context, _ []*rules.Rule, _ matcher.Record) ([]matcher.Record, error) {
				return []matcher.Record{robert}, nil
			}), want: rules.OutcomeBlock, wantMatch: 1},
		{name: "index and fallback fail: policy", action: rules.ActionBlock, record: dup, idx: slow(0, errors.New("down")),
			fallback: fallbackFunc(func(ctx context.Context, _ []*rules.Rule, _ matcher.Record) ([]matcher.Record, error) {
				return nil, errors.New("dataverse 503")
			}), want: rules.OutcomeAllow, wantFB: "fail-open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := rules.NewSet([]*rules.Rule{contactRule(t, tc.action, tc.byEntry)})
			var idx rules.Index = seeded(t, set)
			if tc.idx != nil {
				idx = tc.idx(idx)
			}
			var opts []rules.Option
			if tc.fallback != nil {
				opts = append(opts, rules.WithFallback(tc.fallback))
			}
			eng := rules.NewEngine(set, idx, rules.EngineConfig{Deadline: 300 * time.Millisecond, TablePolicy: tc.policy}, opts...)
			entry := tc.entry
			if entry == "" {
				entry = rules.EntryForm
			}
			start := time.Now()
			d := eng.Decide(t.Context(), rules.Request{Record: tc.record, Message: "Create", EntryPoint: entry})
			if el := time.Since(start); el > 600*time.Millisecond {
				t.Errorf("decision took %v, deadline 300ms", el)
			}
			if d.Outcome != tc.want || d.Fallback != tc.wantFB || len(d.Matches) != tc.wantMatch {
				t.Fatalf("got %s fallback=%q matches=%d (%+v), want %s %q %d", d.Outcome, d.Fallback, len(d.Matches), d.Matches, tc.want, tc.wantFB, tc.wantMatch)
			}
			if tc.wantAct != "" && d.Matches[0].Action != tc.wantAct {
				t.Errorf("action %s, want %s", d.Matches[0].Action, tc.wantAct)
			}
			if tc.wantMatch > 0 && d.Matches[0].ID != robert.ID {
				t.Errorf("matched %s", d.Matches[0].ID)
			}
		})
	}
}

func slow(d time.Duration, err error) func(rules.Index) rules.Index {
	return func(i rules.Index) rules.Index { return slowIndex{Index: i, delay: d, err: err} }
}

func TestUpdateDoesNotMatchItself(t *testing.T) {
	set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock, nil)})
	eng := rules.NewEngine(set, seeded(t, set), rules.EngineConfig{})
	self := robert
	d := eng.Decide(t.Context(), rules.Request{Record: self, Message: "Update"})
	if d.Outcome != rules.OutcomeAllow {
		t.Fatalf("update of the record itself: %+v", d)
	}
}

func TestBypassUser(t *testing.T) {
	r := contactRule(t, rules.ActionBlock, nil)
	r.BypassUsers = map[string]bool{"11111111-1111-1111-1111-111111111111": true}
	set := rules.NewSet([]*rules.Rule{r})
	eng := rules.NewEngine(set, seeded(t, set), rules.EngineConfig{})
	d := eng.Decide(t.Context(), rules.Request{Record: rec("Robert", "Smith", "robert.smith@example.com"), Message: "Create", UserID: "11111111-1111-1111-1111-111111111111"})
	if d.Outcome != rules.OutcomeAllow {
		t.Fatalf("bypass user blocked: %+v", d)
	}
}

type pairs map[[2]string]bool

func (p pairs) NotDuplicate(ea, a, eb, b string) bool {
	return p[[2]string{a, b}] || p[[2]string{b, a}]
}

func TestNotDuplicateException(t *testing.T) {
	set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock, nil)})
	other := rec("Robert", "Smith", "robert.smith@example.com")
	other.ID = "22222222-2222-2222-2222-222222222222"
	eng := rules.NewEngine(set, seeded(t, set), rules.EngineConfig{}, rules.WithExceptions(pairs{{other.ID, robert.ID}: true}))
	if d := eng.Decide(t.Context(), rules.Request{Record: other, Message: "Update"}); d.Outcome != rules.OutcomeAllow {
		t.Fatalf("excepted pair blocked: %+v", d)
	}
}

type verifier func(token string) error

func (v verifier) Verify(ctx context.Context, token string, req rules.Request, ms []rules.Match) error {
	return v(token)
}

func TestOverride(t *testing.T) {
	set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock, nil)})
	eng := rules.NewEngine(set, seeded(t, set), rules.EngineConfig{}, rules.WithOverride(verifier(func(tok string) error {
		if tok != "good" {
			return errors.New("token signature invalid")
		}
		return nil
	})))
	dup := rec("Robert", "Smith", "robert.smith@example.com")
	if d := eng.Decide(t.Context(), rules.Request{Record: dup, Message: "Create", OverrideToken: "good"}); d.Outcome != rules.OutcomeAllow || !d.Overridden {
		t.Errorf("valid override: %+v", d)
	}
	if d := eng.Decide(t.Context(), rules.Request{Record: dup, Message: "Create", OverrideToken: "bad"}); d.Outcome != rules.OutcomeBlock || d.OverrideError == "" {
		t.Errorf("invalid override: %+v", d)
	}
}

// TestConcurrentCreates: 20 concurrent creates of the same new person, each its own request:
// exactly one is allowed, because the first reservation of the strong key wins.
func TestConcurrentCreates(t *testing.T) {
	for _, reservations := range []bool{true, false} {
		set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock, nil)})
		eng := rules.NewEngine(set, index.NewMemory(), rules.EngineConfig{Reservations: reservations})
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := eng.Decide(t.Context(), rules.Request{Record: rec("Anna", "Nowak", "anna.nowak@example.pl"), Message: "Create", Holder: string(rune('a' + i))})
				if d.Outcome == rules.OutcomeAllow {
					allowed.Add(1)
				}
			}()
		}
		wg.Wait()
		want := int32(1)
		if !reservations {
			want = 20 // the race every query-based check admits
		}
		if allowed.Load() != want {
			t.Errorf("reservations=%v: %d allowed, want %d", reservations, allowed.Load(), want)
		}
	}
}

func TestObserverSeesEveryDecision(t *testing.T) {
	set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock, nil)})
	var got []rules.Event
	var mu sync.Mutex
	eng := rules.NewEngine(set, seeded(t, set), rules.EngineConfig{}, rules.WithObserver(rules.ObserverFunc(func(ctx context.Context, ev rules.Event) {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	})))
	eng.Decide(t.Context(), rules.Request{Record: rec("Robert", "Smith", "robert.smith@example.com"), Message: "Create", CorrelationID: "c1"})
	eng.Decide(t.Context(), rules.Request{Record: rec("Anna", "Nowak", "anna@example.pl"), Message: "Create", CorrelationID: "c2"})
	if len(got) != 2 || got[0].Decision.Outcome != rules.OutcomeBlock || got[1].Decision.Outcome != rules.OutcomeAllow || got[0].Request.CorrelationID != "c1" {
		t.Fatalf("events %+v", got)
	}
}

// plainIndex hides the index's InlineReleaser: the engine must release from a goroutine.
type plainIndex struct{ rules.Index }

// TestBlockReleasesReservations: a blocked create gives its strong keys back. An index that
// releases inline (index.Memory) has done so when Decide returns; any other index is released
// from a goroutine, soon after.
func TestBlockReleasesReservations(t *testing.T) {
	set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock, nil)})
	dup := rec("Robert", "Smith", "robert.smith@example.com")
	for _, inline := range []bool{true, false} {
		idx := seeded(t, set)
		var ix rules.Index = idx
		if !inline {
			ix = plainIndex{idx}
		}
		eng := rules.NewEngine(set, ix, rules.EngineConfig{Reservations: true})
		// An allowed create keeps its reservation (until its record is indexed): the
		// reservations are real.
		if d := eng.Decide(t.Context(), rules.Request{Record: rec("Anna", "Nowak", "anna.nowak@example.pl"), Message: "Create", Holder: "h0"}); d.Outcome != rules.OutcomeAllow || idx.Reservations() != 1 {
			t.Fatalf("inline=%v: allowed create: %+v, %d reservations", inline, d, idx.Reservations())
		}
		d := eng.Decide(t.Context(), rules.Request{Record: dup, Message: "Create", Holder: "h1"})
		if d.Outcome != rules.OutcomeBlock {
			t.Fatalf("inline=%v: want a block, got %+v", inline, d)
		}
		if inline {
			if n := idx.Reservations(); n != 1 {
				t.Fatalf("inline: %d reservations held when Decide returned, want Anna's alone", n)
			}
			continue
		}
		deadline := time.Now().Add(5 * time.Second)
		for idx.Reservations() != 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := idx.Reservations(); n != 1 {
			t.Fatalf("goroutine: %d reservations still held", n)
		}
	}
}
