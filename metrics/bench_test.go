package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/metrics"
	"github.com/dedupegate/dedupegate/rules"
)

// BenchmarkObserve is the metrics observer's cost on the decision path, for a block with two
// matches.
func BenchmarkObserve(b *testing.B) {
	m := metrics.New()
	ev := rules.Event{Request: rules.Request{Record: matcher.Record{Entity: "contact"}, EntryPoint: "form"}, Latency: 2 * time.Millisecond,
		Decision: rules.Decision{Outcome: rules.OutcomeBlock, Matches: []rules.Match{
			{Rule: "contact-duplicate", Action: rules.ActionBlock, Level: rules.OutcomeBlock},
			{Rule: "contact-duplicate", Action: rules.ActionBlock, Level: rules.OutcomeWarn}}}}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Observe(ctx, ev)
		}
	})
}
