package actions

import (
	"context"
	"fmt"
	"testing"

	"github.com/dedupegate/dedupegate/rules"
)

// BenchmarkObserve is the cost a follow-up adds to a decision (Runner.Observe: memory only).
func BenchmarkObserve(b *testing.B) {
	cfg := testActionsConfig()
	cfg.MaxPending = 1 << 30
	r := New(cfg, nil, nil)
	rec := newRec("jane@example.com")
	evs := make([]rules.Event, 1024)
	for i := range evs {
		evs[i] = event(fmt.Sprintf("aaaaaaaa-0000-0000-0000-%012d", i), "Create", rec, rules.OutcomeAllow,
			match(rules.ActionReview, rules.OutcomeBlock, idA, 0.95))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Observe(ctx, evs[i%len(evs)])
	}
}

// BenchmarkNotDuplicate is the engine's exceptions check per candidate, with 100,000 pairs.
func BenchmarkNotDuplicate(b *testing.B) {
	x := NewExceptions(nil, nil)
	ctx := context.Background()
	next := map[string]struct{}{}
	for i := 0; i < 100000; i++ {
		next[PairKey("contact", fmt.Sprintf("11111111-1111-1111-1111-%012d", i), "contact", idB)] = struct{}{}
	}
	x.set.Store(&next)
	_ = x.Add(ctx, Exception{Pair: PairKey("contact", idA, "contact", idB)})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !x.NotDuplicate("contact", idB, "contact", idA) {
			b.Fatal("pair missing")
		}
	}
}
