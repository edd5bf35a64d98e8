package audit_test

import (
	"context"
	"io"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/index/redistest"
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

// wideBlockEvent is a block decision on a fuller contact, matched by two rules with the
// reasons the matcher writes (names, email, phone, address, birth date).
func wideBlockEvent() rules.Event {
	ev := blockEvent()
	ev.Request.Record.Attrs = map[string]string{"firstname": "Bob", "lastname": "Smyth", "middlename": "James",
		"emailaddress1": "bob.smyth@example.com", "telephone1": "+44 20 7946 0958", "mobilephone": "07700 900123",
		"address1_line1": "1 High St", "address1_city": "London", "address1_postalcode": "SW1A 1AA", "birthdate": "1970-01-01"}
	ev.Request.Message, ev.Request.UserAADID = "Create", "aaaa0000-bb11-2222-33cc-444444dddddd"
	ev.Decision.Matches = append(ev.Decision.Matches, rules.Match{Rule: "contact-name-address", Action: rules.ActionWarn,
		Level: rules.OutcomeWarn, Entity: "contact", ID: "7e92608f-1a0a-f811-9233-111e4bb3442d", Name: "Bob Smythe", Score: 0.87,
		Reasons: []string{"first name equal", "last name Smyth ~ Smythe (one character differs)",
			"address 1 High St ~ 1 High Street (similar)", "postcode equal after normalisation",
			"birth date 1970-01-01 ~ 1970-01-02 (one day apart)", "phone equal without country or area code", "middle name differs"}})
	return ev
}

// BenchmarkFromEvent is the writer's cost per entry: building and masking it. "new" is
// FromEvent, "reference" the original regexp-based masking it replaced (mask_ref_test.go).
func BenchmarkFromEvent(b *testing.B) {
	for _, bc := range []struct {
		name string
		ev   rules.Event
		mask bool
	}{{"block", blockEvent(), true}, {"wide", wideBlockEvent(), true}, {"unmasked", blockEvent(), false}} {
		for _, impl := range []struct {
			name string
			f    func(rules.Event, bool) (audit.Entry, bool)
		}{{"new", audit.FromEvent}, {"reference", audit.ReferenceFromEvent}} {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					impl.f(bc.ev, bc.mask)
				}
			})
		}
	}
}

// BenchmarkTrailWriter is the writer's whole cost per entry, as serve runs it: each op queues
// a block decision, which the writer builds and masks, logs as a JSON line and stores, in
// batches (the queue is flushed every 256 entries).
func BenchmarkTrailWriter(b *testing.B) {
	for _, st := range []struct {
		name  string
		store func(b *testing.B) audit.Store
	}{
		{"ring", func(b *testing.B) audit.Store { return audit.NewRing(10_000) }},
		{"redis", func(b *testing.B) audit.Store {
			addr := redistest.Standalone(b)
			return audit.NewRedisStore(redistest.Client(b, addr), redistest.Prefix(b)+"audit", 10_000)
		}},
	} {
		b.Run(st.name, func(b *testing.B) {
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.InfoLevel))
			tr := audit.New(st.store(b), log, audit.Options{Mask: true, Log: true, Buffer: 1 << 12})
			defer tr.Close(context.Background())
			ev := wideBlockEvent()
			ctx := context.Background()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				tr.Observe(ctx, ev)
				if n++; n%256 == 0 {
					if err := tr.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := tr.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
