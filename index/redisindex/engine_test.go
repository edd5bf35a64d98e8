package redisindex_test

import (
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// TestEngineOverRedis runs decisions through the rules engine on the Redis index: a duplicate
// is blocked; with Redis killed, every decision follows the failure policy within the
// deadline; once Redis is back (empty: no persistence) and the record is filed again, the
// duplicate is blocked again. Two concurrent creates of one new person: one is allowed, the
// other blocked by the reservation.
func TestEngineOverRedis(t *testing.T) {
	srv := redistest.Start(t)
	x, err := redisindex.New(config.Redis{Addrs: []string{srv.Addr}, Prefix: "dg:",
		DialTimeout: config.Duration(200 * time.Millisecond), ReadTimeout: config.Duration(200 * time.Millisecond), WriteTimeout: config.Duration(200 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	set := shippedRules(t)
	const deadline = 600 * time.Millisecond
	for _, policy := range []rules.Policy{rules.FailOpen, rules.FailClosed} {
		e := rules.NewEngine(set, x, rules.EngineConfig{Deadline: deadline, FailurePolicy: policy, Reservations: true})
		existing := matcher.Record{Entity: "contact", ID: "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11", Attrs: map[string]string{
			"firstname": "Siobhán", "lastname": "Ó Briain", "emailaddress1": "siobhan.obriain@fabrikam.org", "mobilephone": "+44 7700 900123",
			"birthdate": "1984-02-29T00:00:00Z"}}
		if err := index.File(t.Context(), x, set, existing); err != nil {
			t.Fatal(err)
		}
		dup := matcher.Record{Entity: "contact", Attrs: map[string]string{
			"firstname": "Siobhan", "lastname": "O'Briain", "emailaddress1": "Siobhan.OBriain@fabrikam.org", "mobilephone": "07700 900123",
			"birthdate": "1984-02-29T00:00:00Z"}}
		req := rules.Request{Record: dup, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-1"}
		d := e.Decide(t.Context(), req)
		if d.Outcome != rules.OutcomeBlock || d.Fallback != "" || len(d.Matches) == 0 || d.Matches[0].ID != existing.ID {
			t.Fatalf("%s: duplicate with Redis up: %+v", policy, d)
		}

		srv.Kill()
		start := time.Now()
		d = e.Decide(t.Context(), req)
		took := time.Since(start)
		wantOutcome, wantFallback := rules.OutcomeAllow, "fail-open"
		if policy == rules.FailClosed {
			wantOutcome, wantFallback = rules.OutcomeBlock, "fail-closed"
		}
		if d.Outcome != wantOutcome || d.Fallback != wantFallback || d.Error == "" {
			t.Fatalf("%s: decision with Redis down: %+v", policy, d)
		}
		if took > deadline+100*time.Millisecond {
			t.Fatalf("%s: decision with Redis down took %v, deadline %v", policy, took, deadline)
		}

		srv.Restart(t)
		waitUntil(t, func() bool {
			return x.Ready(t.Context()) == nil && x.Upsert(t.Context(), existing, set.IndexKeys(existing)) == nil
		})
		if err := index.File(t.Context(), x, set, existing); err != nil {
			t.Fatal(err)
		}
		if d = e.Decide(t.Context(), req); d.Outcome != rules.OutcomeBlock || d.Fallback != "" {
			t.Fatalf("%s: after Redis came back: %+v", policy, d)
		}
	}

	// Two creates of the same new person at once: the first claims the strong keys, the
	// second is blocked by that claim; the first's retry gets the same answer.
	e := rules.NewEngine(set, x, rules.EngineConfig{Deadline: time.Second, Reservations: true})
	fresh := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Aoife", "lastname": "Ní Bhriain",
		"emailaddress1": "aoife.nibhriain@contoso-ltd.com", "mobilephone": "+44 7700 900999"}}
	first := e.Decide(t.Context(), rules.Request{Record: fresh, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-a"})
	second := e.Decide(t.Context(), rules.Request{Record: fresh, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-b"})
	retry := e.Decide(t.Context(), rules.Request{Record: fresh, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-a"})
	if first.Outcome != rules.OutcomeAllow || retry.Outcome != rules.OutcomeAllow {
		t.Fatalf("first create %v, its retry %v; want allow", first.Outcome, retry.Outcome)
	}
	if second.Outcome != rules.OutcomeBlock || len(second.Matches) == 0 || !second.Matches[0].Reserved {
		t.Fatalf("concurrent second create: %+v", second)
	}
	// The first is committed: PostOperation files it and settles its reservations; a third
	// create is then matched against the stored record itself.
	fresh.ID = "0f3f4b6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	if err := index.Commit(t.Context(), x, set, fresh); err != nil {
		t.Fatal(err)
	}
	third := e.Decide(t.Context(), rules.Request{Record: matcher.Record{Entity: "contact", Attrs: fresh.Attrs}, Message: "Create", EntryPoint: rules.EntryForm, Holder: "req-c"})
	if third.Outcome != rules.OutcomeBlock || len(third.Matches) == 0 || third.Matches[0].Reserved || third.Matches[0].ID != fresh.ID {
		t.Fatalf("create after the first was committed: %+v", third)
	}
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
