package actions

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/webhook"
)

// capture is a Recorder that keeps every outcome.
type capture struct {
	mu  sync.Mutex
	out []Outcome
}

func (c *capture) RecordFollowUp(_ context.Context, o Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, o)
}

func (c *capture) all() []Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Outcome(nil), c.out...)
}

// wait returns the outcomes once there are at least n, or fails the test.
func (c *capture) wait(t *testing.T, n int) []Outcome {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got := c.all(); len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("got %d outcomes, want %d: %+v", len(c.all()), n, c.all())
	return nil
}

func testActionsConfig() config.Actions {
	c := config.Default().Actions
	c.Retry.Attempts = 2
	c.Retry.InitialBackoff = config.Duration(time.Millisecond)
	c.Retry.MaxBackoff = config.Duration(2 * time.Millisecond)
	return c
}

const (
	corr1 = "aaaaaaaa-0000-0000-0000-000000000001"
	corr2 = "aaaaaaaa-0000-0000-0000-000000000002"
)

func match(action rules.Action, level rules.Outcome, id string, score float64) rules.Match {
	return rules.Match{Rule: "contact-email", Action: action, Level: level, Entity: "contact", ID: id, Name: "Jane Doe", Score: score, Reasons: []string{"email equal"}}
}

func event(corr, msg string, rec matcher.Record, outcome rules.Outcome, ms ...rules.Match) rules.Event {
	return rules.Event{Time: time.Now(), Request: rules.Request{Record: rec, Message: msg, CorrelationID: corr, EntryPoint: rules.EntryIntegration, UserID: idC},
		Decision: rules.Decision{Outcome: outcome, Matches: ms}}
}

func change(corr, msg, id string, attrs map[string]string) webhook.Change {
	return webhook.Change{Message: msg, Entity: "contact", ID: id, CorrelationID: corr,
		Record: matcher.Record{Entity: "contact", ID: id, Attrs: attrs}}
}

func newRec(email string) matcher.Record {
	return matcher.Record{Entity: "contact", Attrs: map[string]string{"emailaddress1": email, "firstname": "Jane"}}
}

// Without Dataverse every follow-up is recorded as failed: the plumbing (observe, wait for the
// PostOperation call, run) is visible without any Dataverse call.
func TestFollowUpWaitsForItsPostOperationCall(t *testing.T) {
	rec := &capture{}
	r := New(testActionsConfig(), nil, nil, WithRecorder(rec))
	r.Start()
	defer r.Close(context.Background())
	ctx := context.Background()

	r.Observe(ctx, event(corr1, "Create", newRec("jane@example.com"), rules.OutcomeAllow, match(rules.ActionNotify, rules.OutcomeBlock, idA, 0.95)))
	if r.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", r.Pending())
	}
	// Another correlation id, another table, a Delete: none releases it.
	_ = r.HandleChange(ctx, change(corr2, "Create", idB, map[string]string{"emailaddress1": "jane@example.com"}))
	ch := change(corr1, "Create", idB, nil)
	ch.Entity, ch.Record.Entity = "lead", "lead"
	_ = r.HandleChange(ctx, ch)
	_ = r.HandleChange(ctx, change(corr1, "Delete", idB, nil))
	time.Sleep(20 * time.Millisecond)
	if len(rec.all()) != 0 || r.Pending() != 1 {
		t.Fatalf("released by an unrelated change: outcomes %+v, pending %d", rec.all(), r.Pending())
	}
	if err := r.HandleChange(ctx, change(strings.ToUpper(corr1), "Create", idB, map[string]string{"emailaddress1": "jane@example.com"})); err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 1)
	o := got[0]
	if o.Status != StatusFailed || !strings.Contains(o.Error, "no Dataverse connection") || o.ID != idB || o.MatchID != idA ||
		o.Action != rules.ActionNotify || o.CorrelationID != corr1 || o.EntryPoint != rules.EntryIntegration {
		t.Fatalf("outcome = %+v", o)
	}
	if r.Pending() != 0 {
		t.Fatalf("pending = %d after release", r.Pending())
	}
}

func TestOnlyAllowedSavesWithFiringMatchesWait(t *testing.T) {
	tests := []struct {
		name string
		ev   rules.Event
		want int
	}{
		{"blocked save", event(corr1, "Create", newRec("a@x"), rules.OutcomeBlock, match(rules.ActionNotify, rules.OutcomeBlock, idA, 1)), 0},
		{"warn-level match", event(corr1, "Create", newRec("a@x"), rules.OutcomeAllow, match(rules.ActionReview, rules.OutcomeWarn, idA, 0.7)), 0},
		{"block action", event(corr1, "Create", newRec("a@x"), rules.OutcomeAllow, match(rules.ActionWarn, rules.OutcomeBlock, idA, 1)), 0},
		{"check API request", event(corr1, "Check", newRec("a@x"), rules.OutcomeAllow, match(rules.ActionMerge, rules.OutcomeBlock, idA, 1)), 0},
		{"reserved match", event(corr1, "Create", newRec("a@x"), rules.OutcomeAllow, rules.Match{Action: rules.ActionMerge, Level: rules.OutcomeBlock, Reserved: true}), 0},
		{"fallback", func() rules.Event {
			ev := event(corr1, "Create", newRec("a@x"), rules.OutcomeAllow, match(rules.ActionMerge, rules.OutcomeBlock, idA, 1))
			ev.Decision.Fallback = "fail-open"
			return ev
		}(), 0},
		{"notify, merge and review", event(corr1, "Update", newRec("a@x"), rules.OutcomeAllow,
			match(rules.ActionMerge, rules.OutcomeBlock, idA, 1), match(rules.ActionReview, rules.OutcomeBlock, idB, 0.9),
			match(rules.ActionNotify, rules.OutcomeWarn, idC, 0.7)), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(testActionsConfig(), nil, nil)
			r.Observe(context.Background(), tt.ev)
			if r.Pending() != tt.want {
				t.Fatalf("pending = %d, want %d", r.Pending(), tt.want)
			}
		})
	}
}

// One correlation id can save several rows (a flow creating two contacts in one transaction):
// the committed row's values pick the right follow-up.
func TestSeveralSavesUnderOneCorrelationID(t *testing.T) {
	rec := &capture{}
	r := New(testActionsConfig(), nil, nil, WithRecorder(rec))
	r.Start()
	defer r.Close(context.Background())
	ctx := context.Background()
	r.Observe(ctx, event(corr1, "Create", newRec("one@example.com"), rules.OutcomeAllow, match(rules.ActionReview, rules.OutcomeBlock, idA, 0.9)))
	r.Observe(ctx, event(corr1, "Create", newRec("two@example.com"), rules.OutcomeAllow, match(rules.ActionReview, rules.OutcomeBlock, idB, 0.9)))
	_ = r.HandleChange(ctx, change(corr1, "Create", idC, map[string]string{"emailaddress1": "two@example.com", "firstname": "Jane", "lastname": "Doe"}))
	got := rec.wait(t, 1)
	if got[0].MatchID != idB {
		t.Fatalf("released the follow-up of the other row: %+v", got[0])
	}
	if r.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", r.Pending())
	}
	// An Update's follow-up knows its row id.
	r.Observe(ctx, event(corr2, "Update", matcher.Record{Entity: "contact", ID: idA, Attrs: map[string]string{"firstname": "X"}},
		rules.OutcomeAllow, match(rules.ActionReview, rules.OutcomeBlock, idB, 0.9)))
	_ = r.HandleChange(ctx, change(corr2, "Update", idC, map[string]string{"firstname": "X"}))
	time.Sleep(20 * time.Millisecond)
	if len(rec.all()) != 1 {
		t.Fatal("an Update of another row released the follow-up")
	}
	_ = r.HandleChange(ctx, change(corr2, "Update", idA, map[string]string{"firstname": "X"}))
	rec.wait(t, 2)
}

func TestFollowUpsThatNeverCommitExpire(t *testing.T) {
	rec := &capture{}
	cfg := testActionsConfig()
	cfg.PendingTTL = config.Duration(time.Minute)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := New(cfg, nil, nil, WithRecorder(rec), WithClock(clock, nil))
	ctx := context.Background()
	r.Observe(ctx, event(corr1, "Create", newRec("a@x"), rules.OutcomeAllow, match(rules.ActionNotify, rules.OutcomeBlock, idA, 1)))
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	r.Observe(ctx, event(corr2, "Create", newRec("b@x"), rules.OutcomeAllow, match(rules.ActionNotify, rules.OutcomeBlock, idB, 1)))
	mu.Lock()
	now = now.Add(45 * time.Second)
	mu.Unlock()
	r.expire(clock())
	got := rec.all()
	if len(got) != 1 || got[0].Status != StatusExpired || got[0].MatchID != idA || !strings.Contains(got[0].Error, "PostOperation") {
		t.Fatalf("outcomes = %+v", got)
	}
	if r.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", r.Pending())
	}
	// The expired one can no longer be released.
	r.Start()
	_ = r.HandleChange(ctx, change(corr1, "Create", idC, nil))
	_ = r.Close(ctx)
	got = rec.all()
	if len(got) != 2 || got[1].Status != StatusDropped || got[1].MatchID != idB {
		t.Fatalf("after close: %+v", got)
	}
}

func TestMaxPendingExpiresTheOldest(t *testing.T) {
	rec := &capture{}
	cfg := testActionsConfig()
	cfg.MaxPending = 2
	r := New(cfg, nil, nil, WithRecorder(rec))
	ctx := context.Background()
	for i, id := range []string{idA, idB, idC} {
		r.Observe(ctx, event([]string{corr1, corr2, "aaaaaaaa-0000-0000-0000-000000000003"}[i], "Create", newRec("a@x"), rules.OutcomeAllow,
			match(rules.ActionNotify, rules.OutcomeBlock, id, 1)))
	}
	got := rec.all()
	if r.Pending() != 2 || len(got) != 1 || got[0].Status != StatusExpired || got[0].MatchID != idA {
		t.Fatalf("pending %d, outcomes %+v", r.Pending(), got)
	}
}

func TestFullQueueDropsVisibly(t *testing.T) {
	rec := &capture{}
	cfg := testActionsConfig()
	cfg.Queue = 1
	r := New(cfg, nil, nil, WithRecorder(rec)) // not started: nothing drains the queue
	ctx := context.Background()
	for _, c := range []string{corr1, corr2} {
		r.Observe(ctx, event(c, "Create", newRec("a@x"), rules.OutcomeAllow, match(rules.ActionMerge, rules.OutcomeBlock, idA, 1)))
		_ = r.HandleChange(ctx, change(c, "Create", idB, nil))
	}
	got := rec.all()
	if len(got) != 1 || got[0].Status != StatusDropped || !strings.Contains(got[0].Error, "queue is full") {
		t.Fatalf("outcomes = %+v", got)
	}
	_ = r.Close(ctx)
	got = rec.all()
	if len(got) != 2 || got[1].Status != StatusDropped {
		t.Fatalf("queued follow-up not recorded at close: %+v", got)
	}
}

func TestMetricsRecorderCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetricsRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := New(testActionsConfig(), nil, nil, WithRecorder(m))
	r.Start()
	ctx := context.Background()
	r.Observe(ctx, event(corr1, "Create", newRec("a@x"), rules.OutcomeAllow, match(rules.ActionMerge, rules.OutcomeBlock, idA, 1), match(rules.ActionReview, rules.OutcomeBlock, idB, 1)))
	_ = r.HandleChange(ctx, change(corr1, "Create", idC, nil))
	_ = r.Close(ctx)
	if v := testutil.ToFloat64(m.c.WithLabelValues("merge", "failed", "contact")); v != 1 {
		t.Fatalf("merge failed = %v", v)
	}
	if v := testutil.ToFloat64(m.c.WithLabelValues("review", "failed", "contact")); v != 1 {
		t.Fatalf("review failed = %v", v)
	}
	if _, err := NewMetricsRecorder(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
}

func TestRetryClassification(t *testing.T) {
	e := func(status int) error { return &dataverse.Error{StatusCode: status} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"throttled", e(429), true},
		{"unavailable", e(503), true},
		{"server error", e(500), true},
		{"concurrency", e(412), true},
		{"not found", e(404), false},
		{"bad request", e(400), false},
		{"forbidden", e(403), false},
		{"refused merge", &retryableError{e(400)}, true},
		{"permanent", permanentf("x"), false},
		{"no dataverse", errNoDataverse, false},
		{"network", errors.New("connection reset"), true},
		{"cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("%s: retryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRetryBacksOffAndHonoursRetryAfter(t *testing.T) {
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	p := RetryPolicy{Attempts: 4, Initial: 100 * time.Millisecond, Max: 300 * time.Millisecond}
	calls := 0
	n, err := retry(context.Background(), p, sleep, func(context.Context) error {
		calls++
		if calls == 2 {
			return &dataverse.Error{StatusCode: 429, RetryAfter: 2 * time.Second}
		}
		return &dataverse.Error{StatusCode: 503}
	})
	if n != 4 || calls != 4 || err == nil || statusOf(err) != 503 {
		t.Fatalf("n=%d calls=%d err=%v", n, calls, err)
	}
	if len(waits) != 3 {
		t.Fatalf("waits = %v", waits)
	}
	if waits[0] < 50*time.Millisecond || waits[0] > 100*time.Millisecond {
		t.Errorf("first wait %v outside [50ms,100ms]", waits[0])
	}
	if waits[1] != 2*time.Second {
		t.Errorf("second wait %v, want the 2s Retry-After", waits[1])
	}
	if waits[2] < 150*time.Millisecond || waits[2] > 300*time.Millisecond {
		t.Errorf("third wait %v outside [150ms,300ms] (capped backoff)", waits[2])
	}
	calls = 0
	n, err = retry(context.Background(), p, sleep, func(context.Context) error {
		calls++
		return &dataverse.Error{StatusCode: 404}
	})
	if n != 1 || err == nil {
		t.Fatalf("a 404 was retried: n=%d err=%v", n, err)
	}
}
