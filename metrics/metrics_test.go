package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/metrics"
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

var robert = matcher.Record{Entity: "contact", ID: "6d81597f-0f9f-e711-8122-000d3aa2331c", Attrs: map[string]string{
	"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@example.com"}}

// TestBlockProducesExactSeries runs a real engine over a real in-process index: one blocked
// save of an exact duplicate must produce exactly these series and nothing else.
func TestBlockProducesExactSeries(t *testing.T) {
	set := rules.NewSet([]*rules.Rule{contactRule(t, rules.ActionBlock)})
	idx := index.NewMemory()
	if err := idx.Upsert(t.Context(), robert, set.IndexKeys(robert)); err != nil {
		t.Fatal(err)
	}
	// One reservation held by some other save in flight.
	if _, err := idx.Lookup(t.Context(), rules.Lookup{Reserve: []string{"contact|emailaddress1|x"}, Holder: "other", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	m.IndexSize(func() float64 { return float64(idx.Len()) })
	m.ReservationsHeld(func() float64 { return float64(idx.Reservations()) })
	eng := rules.NewEngine(set, idx, rules.EngineConfig{}, rules.WithObserver(m))

	dup := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "robert.smith@example.com"}}
	d := eng.Decide(t.Context(), rules.Request{Record: dup, Message: "Create", EntryPoint: rules.EntryForm, Holder: "h1", CorrelationID: "c1"})
	if d.Outcome != rules.OutcomeBlock {
		t.Fatalf("want a block, got %+v", d)
	}
	// A unique save by an integration, allowed.
	uniq := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Ann", "lastname": "Other", "emailaddress1": "ann@example.org"}}
	if d := eng.Decide(t.Context(), rules.Request{Record: uniq, Message: "Create", EntryPoint: rules.EntryIntegration, Holder: "h2"}); d.Outcome != rules.OutcomeAllow {
		t.Fatalf("want allow, got %+v", d)
	}

	want := `
# HELP dedupegate_decisions_total Decisions by table, outcome (allow, warn, block), deciding rule ("none" when no rule decided) and entry point.
# TYPE dedupegate_decisions_total counter
dedupegate_decisions_total{entry_point="form",outcome="block",rule="contact-email",table="contact"} 1
dedupegate_decisions_total{entry_point="integration",outcome="allow",rule="none",table="contact"} 1
# HELP dedupegate_rule_matches_total Matches reported by a rule, by table, rule, level (block or warn), action and entry point; audit-mode rules count here as "would have fired".
# TYPE dedupegate_rule_matches_total counter
dedupegate_rule_matches_total{action="block",entry_point="form",level="block",rule="contact-email",table="contact"} 1
# HELP dedupegate_index_records Records held by the candidate index.
# TYPE dedupegate_index_records gauge
dedupegate_index_records 1
# HELP dedupegate_reservations_held Strong-key reservations currently held against concurrent creates.
# TYPE dedupegate_reservations_held gauge
dedupegate_reservations_held 1
`
	names := []string{"dedupegate_decisions_total", "dedupegate_rule_matches_total", "dedupegate_fallbacks_total",
		"dedupegate_overrides_total", "dedupegate_override_refusals_total", "dedupegate_reservation_conflicts_total",
		"dedupegate_index_records", "dedupegate_reservations_held"}
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Registry, "dedupegate_decision_duration_seconds"); n != 1 {
		t.Fatalf("latency series: want 1 (table contact), got %d", n)
	}
	// Both decisions landed in the histogram.
	if got := histogramCount(t, m, "dedupegate_decision_duration_seconds"); got != 2 {
		t.Fatalf("latency observations: want 2, got %d", got)
	}
	// Block sizes: the duplicate met Robert, the unique save met nobody.
	want = `
# HELP dedupegate_candidates_per_decision Records the index returned to score for one decision (its block size), by table: what a decision costs, and how broad the rules' blocking keys are.
# TYPE dedupegate_candidates_per_decision histogram
dedupegate_candidates_per_decision_bucket{table="contact",le="0"} 1
dedupegate_candidates_per_decision_bucket{table="contact",le="1"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="2"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="5"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="10"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="20"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="50"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="100"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="200"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="500"} 2
dedupegate_candidates_per_decision_bucket{table="contact",le="+Inf"} 2
dedupegate_candidates_per_decision_sum{table="contact"} 1
dedupegate_candidates_per_decision_count{table="contact"} 2
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "dedupegate_candidates_per_decision"); err != nil {
		t.Fatal(err)
	}
}

func histogramCount(t *testing.T, m *metrics.Metrics, name string) uint64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, mt := range mf.GetMetric() {
				n += mt.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// TestObserveKinds covers the decisions a real engine makes rarely or not at all without
// Dataverse: fallbacks, overrides, refused overrides, reservation conflicts, audit mode.
func TestObserveKinds(t *testing.T) {
	block := rules.Match{Rule: "r-block", Action: rules.ActionBlock, Level: rules.OutcomeBlock, Entity: "contact", ID: "x", Score: 0.9}
	warnBelow := rules.Match{Rule: "r-block", Action: rules.ActionBlock, Level: rules.OutcomeWarn, Entity: "contact", ID: "y", Score: 0.6}
	audit := rules.Match{Rule: "r-audit", Action: rules.ActionAudit, Level: rules.OutcomeBlock, Entity: "contact", ID: "z", Score: 0.95}
	reserved := rules.Match{Rule: "r-block", Action: rules.ActionBlock, Level: rules.OutcomeBlock, Entity: "contact", Score: 1, Reserved: true}
	req := func(ep string) rules.Request {
		return rules.Request{Record: matcher.Record{Entity: "contact"}, EntryPoint: ep}
	}
	m := metrics.New()
	for _, ev := range []rules.Event{
		{Request: req("form"), Decision: rules.Decision{Outcome: rules.OutcomeAllow, Fallback: "fail-open", Error: "index: down"}},
		{Request: req("form"), Decision: rules.Decision{Outcome: rules.OutcomeBlock, Fallback: "fail-closed", Error: "index: down"}},
		{Request: req("form"), Decision: rules.Decision{Outcome: rules.OutcomeAllow, Overridden: true, Matches: []rules.Match{block}}},
		{Request: req("api"), Decision: rules.Decision{Outcome: rules.OutcomeBlock, OverrideError: "expired", Matches: []rules.Match{block}}},
		{Request: req("form"), Decision: rules.Decision{Outcome: rules.OutcomeWarn, Matches: []rules.Match{warnBelow}}},
		{Request: req("import"), Decision: rules.Decision{Outcome: rules.OutcomeAllow, Matches: []rules.Match{audit}}},
		{Request: req("form"), Decision: rules.Decision{Outcome: rules.OutcomeBlock, Matches: []rules.Match{reserved}}},
	} {
		ev.Latency = time.Millisecond
		m.Observe(context.Background(), ev)
	}
	want := `
# HELP dedupegate_decisions_total Decisions by table, outcome (allow, warn, block), deciding rule ("none" when no rule decided) and entry point.
# TYPE dedupegate_decisions_total counter
dedupegate_decisions_total{entry_point="api",outcome="block",rule="r-block",table="contact"} 1
dedupegate_decisions_total{entry_point="form",outcome="allow",rule="none",table="contact"} 1
dedupegate_decisions_total{entry_point="form",outcome="allow",rule="r-block",table="contact"} 1
dedupegate_decisions_total{entry_point="form",outcome="block",rule="none",table="contact"} 1
dedupegate_decisions_total{entry_point="form",outcome="block",rule="r-block",table="contact"} 1
dedupegate_decisions_total{entry_point="form",outcome="warn",rule="r-block",table="contact"} 1
dedupegate_decisions_total{entry_point="import",outcome="allow",rule="none",table="contact"} 1
# HELP dedupegate_fallbacks_total Decisions made by the failure policy because the engine could not decide, by table and policy (fail-open, fail-closed).
# TYPE dedupegate_fallbacks_total counter
dedupegate_fallbacks_total{policy="fail-closed",table="contact"} 1
dedupegate_fallbacks_total{policy="fail-open",table="contact"} 1
# HELP dedupegate_overrides_total Blocks turned into allows by a valid "Ignore and Save" token, by table and the rule overridden.
# TYPE dedupegate_overrides_total counter
dedupegate_overrides_total{rule="r-block",table="contact"} 1
# HELP dedupegate_override_refusals_total Override tokens presented with a block and refused, by table.
# TYPE dedupegate_override_refusals_total counter
dedupegate_override_refusals_total{table="contact"} 1
# HELP dedupegate_reservation_conflicts_total Matches against a concurrent save holding the same strong key, by table.
# TYPE dedupegate_reservation_conflicts_total counter
dedupegate_reservation_conflicts_total{table="contact"} 1
# HELP dedupegate_rule_matches_total Matches reported by a rule, by table, rule, level (block or warn), action and entry point; audit-mode rules count here as "would have fired".
# TYPE dedupegate_rule_matches_total counter
dedupegate_rule_matches_total{action="audit",entry_point="import",level="block",rule="r-audit",table="contact"} 1
dedupegate_rule_matches_total{action="block",entry_point="api",level="block",rule="r-block",table="contact"} 1
dedupegate_rule_matches_total{action="block",entry_point="form",level="block",rule="r-block",table="contact"} 2
dedupegate_rule_matches_total{action="block",entry_point="form",level="warn",rule="r-block",table="contact"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "dedupegate_decisions_total", "dedupegate_fallbacks_total",
		"dedupegate_overrides_total", "dedupegate_override_refusals_total", "dedupegate_reservation_conflicts_total", "dedupegate_rule_matches_total"); err != nil {
		t.Fatal(err)
	}
}

// TestRedisHook counts real round trips against a real redis-server: commands, pipelines (one
// round trip each, with their commands counted apart), errors, and the caller label.
func TestRedisHook(t *testing.T) {
	addr := redistest.Standalone(t)
	p := redistest.Prefix(t)
	c := redistest.Client(t, addr)
	m := metrics.New()
	c.AddHook(m.RedisHook("index"))
	ctx := t.Context()
	if err := c.Set(ctx, p+"a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, p+"missing").Err(); err == nil {
		t.Fatal("want redis.Nil")
	}
	pipe := c.Pipeline()
	pipe.Get(ctx, p+"a")
	pipe.Incr(ctx, p+"n")
	pipe.Expire(ctx, p+"n", time.Minute)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Incr(metrics.WithRedisCaller(ctx, "audit"), p+"a").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HGet(ctx, p+"a", "f").Err(); err == nil { // WRONGTYPE
		t.Fatal("want WRONGTYPE")
	}

	count := func(caller, op string) uint64 {
		mfs, _ := m.Registry.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "dedupegate_redis_call_duration_seconds" {
				continue
			}
			for _, mt := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range mt.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				if l["caller"] == caller && l["op"] == op {
					return mt.GetHistogram().GetSampleCount()
				}
			}
		}
		return 0
	}
	for _, tc := range []struct {
		caller, op string
		want       uint64
	}{{"index", "set", 1}, {"index", "get", 1}, {"index", "pipeline", 1}, {"audit", "incr", 1}, {"index", "hget", 1}, {"index", "incr", 0}} {
		if got := count(tc.caller, tc.op); got != tc.want {
			t.Errorf("%s %s: want %d calls, got %d", tc.caller, tc.op, tc.want, got)
		}
	}
	want := `
# HELP dedupegate_redis_errors_total Redis calls that failed (a nil reply is not a failure), by caller and operation.
# TYPE dedupegate_redis_errors_total counter
dedupegate_redis_errors_total{caller="index",op="hget"} 1
# HELP dedupegate_redis_pipelined_commands_total Commands sent inside pipelines, by caller.
# TYPE dedupegate_redis_pipelined_commands_total counter
dedupegate_redis_pipelined_commands_total{caller="index"} 3
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "dedupegate_redis_errors_total", "dedupegate_redis_pipelined_commands_total"); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTripper times requests to a real loopback server and classifies failures.
func TestRoundTripper(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/throttled":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/broken":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		default:
			_, _ = w.Write([]byte(`{"value":[]}`))
		}
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	m := metrics.New()
	client := &http.Client{Transport: m.RoundTripper("dataverse", nil)}
	for _, u := range []string{srv.URL + "/api/data/v9.2/contacts?$filter=emailaddress1%20eq%20'bob@example.com'", srv.URL + "/throttled",
		srv.URL + "/broken", srv.URL + "/missing", deadURL + "/x"} {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
		}
	}
	want := `
# HELP dedupegate_dependency_errors_total HTTP requests to a dependency that failed (transport error, 429 throttling, 5xx), by dependency and reason.
# TYPE dedupegate_dependency_errors_total counter
dedupegate_dependency_errors_total{dependency="dataverse",reason="server_error"} 1
dedupegate_dependency_errors_total{dependency="dataverse",reason="throttled"} 1
dedupegate_dependency_errors_total{dependency="dataverse",reason="transport"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "dedupegate_dependency_errors_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Registry, "dedupegate_dependency_request_duration_seconds"); n != 5 {
		t.Fatalf("want 5 series (2xx, 429, 5xx, 4xx, error), got %d", n)
	}
	// No URL, filter or personal data in any label.
	body := scrape(t, m)
	if strings.Contains(body, "bob@example.com") || strings.Contains(body, "contacts") {
		t.Fatal("a URL leaked into the metrics")
	}
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.String()
}

func TestHandlerServesOwnRegistry(t *testing.T) {
	m := metrics.New()
	m.Observe(context.Background(), rules.Event{Request: rules.Request{Record: matcher.Record{Entity: "lead"}, EntryPoint: "form"},
		Decision: rules.Decision{Outcome: rules.OutcomeAllow}})
	body := scrape(t, m)
	for _, s := range []string{`dedupegate_decisions_total{entry_point="form",outcome="allow",rule="none",table="lead"} 1`, "go_goroutines", "process_"} {
		if !strings.Contains(body, s) {
			t.Errorf("scrape lacks %q", s)
		}
	}
	if metrics.New().Registry == m.Registry {
		t.Fatal("registries shared")
	}
}
