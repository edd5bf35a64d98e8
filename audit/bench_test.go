package audit_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

func blockEvent() rules.Event {
	return rules.Event{Time: time.Now(), Latency: 2 * time.Millisecond,
		Request: rules.Request{Record: matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Bob", "lastname": "Smyth",
			"emailaddress1": "bob.smyth@example.com", "telephone1": "+44 20 7946 0958"}}, EntryPoint: "form", UserID: "u", CorrelationID: "c"},
		Decision: rules.Decision{Outcome: rules.OutcomeBlock, Matches: []rules.Match{{Rule: "contact-duplicate", Action: rules.ActionBlock,
			Level: rules.OutcomeBlock, Entity: "contact", ID: "6d81597f-0f9f-e711-8122-000d3aa2331c", Name: "Robert Smith", Score: 0.995,
			Reasons: []string{"email bob.smyth@example.com = robert.smith@example.com after normalisation", "first name Bob ~ Robert (nickname)", "last name Smyth ~ Smith (sounds alike)"}}}}}
}

// BenchmarkObserve is the audit observer's cost on the decision path (queueing only).
func BenchmarkObserve(b *testing.B) {
	tr := audit.New(audit.NewRing(1000), zap.NewNop(), audit.Options{Mask: true, Buffer: 1 << 16})
	defer tr.Close(context.Background())
	ev := blockEvent()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tr.Observe(ctx, ev)
	}
}

// BenchmarkFromEvent is the writer's cost per entry: building and masking it.
func BenchmarkFromEvent(b *testing.B) {
	ev := blockEvent()
	b.ReportAllocs()
	for b.Loop() {
		audit.FromEvent(ev, true)
	}
}
