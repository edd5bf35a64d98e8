// Package metrics holds dedupegate's Prometheus metrics, on a registry of their own (never the
// global one): decisions by table, outcome, rule and entry point; decision latency; fallbacks,
// overrides and reservation conflicts; Redis and Dataverse call latency and errors; index size
// and reservations held; the audit trail's own health.
//
// The decision metrics come from Metrics.Observe, a rules.Observer added to the engine. The
// dependency metrics come from two hook points the clients' owners attach:
//
//   - Redis: client.AddHook(m.RedisHook("index")) on any go-redis client (standalone, Sentinel
//     or Cluster). Every command and every pipeline is one timed call; a pipeline counts as one
//     round trip.
//   - Dataverse: http.Client{Transport: m.RoundTripper("dataverse", base)}: every HTTP request
//     is timed and counted by method and status class; 429 and 5xx count as errors.
//
// Label values are bounded: tables and rules come from the rules file, entry points and
// outcomes are fixed sets, and no label ever carries a record id, a user or a URL.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/rules"
)

// Namespace prefixes every metric name.
const Namespace = "dedupegate"

// LatencyBuckets are the decision latency histogram's buckets, in seconds: fine below 10 ms
// (where a healthy decision sits), coarse up to the 1.5 s default deadline and beyond.
var LatencyBuckets = []float64{.0005, .001, .002, .003, .005, .0075, .01, .025, .05, .1, .25, .5, 1, 1.5, 2.5, 5}

// CandidateBuckets are the candidates-per-decision histogram's buckets: from "nothing like
// it" to the engine's default MaxCandidates (500).
var CandidateBuckets = []float64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500}

// CallBuckets are the Redis and Dataverse call latency buckets, in seconds.
var CallBuckets = []float64{.0001, .00025, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics is the set of dedupegate metrics and the registry they live in. Build one with New;
// it is safe for concurrent use.
type Metrics struct {
	// Registry holds every metric below (and the Go and process collectors).
	Registry *prometheus.Registry

	decisions         *prometheus.CounterVec
	ruleMatches       *prometheus.CounterVec
	latency           *prometheus.HistogramVec
	candidates        *prometheus.HistogramVec
	fallbacks         *prometheus.CounterVec
	overrides         *prometheus.CounterVec
	overrideRefusals  *prometheus.CounterVec
	reservationClash  *prometheus.CounterVec
	redisCalls        *prometheus.HistogramVec
	redisErrors       *prometheus.CounterVec
	redisPipelineCmds *prometheus.CounterVec
	httpCalls         *prometheus.HistogramVec
	httpErrors        *prometheus.CounterVec

	// AuditEntries counts entries the audit trail accepted, by kind.
	AuditEntries *prometheus.CounterVec
	// AuditDropped counts entries dropped because the audit queue was full.
	AuditDropped prometheus.Counter
	// AuditWriteErrors counts entries lost because the audit store failed.
	AuditWriteErrors prometheus.Counter

	own []prometheus.Collector // the dedupegate_* collectors, for Names
}

// Names returns the names of every dedupegate_* metric, including those without samples yet
// and the gauges added with GaugeFunc.
func (m *Metrics) Names() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.own {
			c.Describe(ch)
		}
		close(ch)
	}()
	var out []string
	for d := range ch {
		// Desc's only public rendering: Desc{fqName: "…", help: …}.
		s := d.String()
		if i := strings.Index(s, `fqName: "`); i >= 0 {
			rest := s[i+len(`fqName: "`):]
			if j := strings.IndexByte(rest, '"'); j >= 0 {
				out = append(out, rest[:j])
			}
		}
	}
	return out
}

// New registers every metric on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &Metrics{Registry: reg}
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "decisions_total",
		Help: "Decisions by table, outcome (allow, warn, block), deciding rule (\"none\" when no rule decided) and entry point.",
	}, []string{"table", "outcome", "rule", "entry_point"})
	m.ruleMatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "rule_matches_total",
		Help: "Matches reported by a rule, by table, rule, level (block or warn), action and entry point; audit-mode rules count here as \"would have fired\".",
	}, []string{"table", "rule", "level", "action", "entry_point"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "decision_duration_seconds",
		Help:    "Time the engine took to decide, by table.",
		Buckets: LatencyBuckets,
	}, []string{"table"})
	m.candidates = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "candidates_per_decision",
		Help:    "Records the index returned to score for one decision (its block size), by table: what a decision costs, and how broad the rules' blocking keys are.",
		Buckets: CandidateBuckets,
	}, []string{"table"})
	m.fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "fallbacks_total",
		Help: "Decisions made by the failure policy because the engine could not decide, by table and policy (fail-open, fail-closed).",
	}, []string{"table", "policy"})
	m.overrides = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "overrides_total",
		Help: "Blocks turned into allows by a valid \"Ignore and Save\" token, by table and the rule overridden.",
	}, []string{"table", "rule"})
	m.overrideRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "override_refusals_total",
		Help: "Override tokens presented with a block and refused, by table.",
	}, []string{"table"})
	m.reservationClash = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "reservation_conflicts_total",
		Help: "Matches against a concurrent save holding the same strong key, by table.",
	}, []string{"table"})
	m.redisCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "redis_call_duration_seconds",
		Help:    "Redis round trips by caller (index, audit) and operation (the command name, or \"pipeline\"), errors included.",
		Buckets: CallBuckets,
	}, []string{"caller", "op"})
	m.redisErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "redis_errors_total",
		Help: "Redis calls that failed (a nil reply is not a failure), by caller and operation.",
	}, []string{"caller", "op"})
	m.redisPipelineCmds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "redis_pipelined_commands_total",
		Help: "Commands sent inside pipelines, by caller.",
	}, []string{"caller"})
	m.httpCalls = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "dependency_request_duration_seconds",
		Help:    "HTTP requests to a dependency (dataverse), by dependency, method and status class (2xx, 4xx, 429, 5xx, error).",
		Buckets: CallBuckets,
	}, []string{"dependency", "method", "status"})
	m.httpErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "dependency_errors_total",
		Help: "HTTP requests to a dependency that failed (transport error, 429 throttling, 5xx), by dependency and reason.",
	}, []string{"dependency", "reason"})
	m.AuditEntries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "audit_entries_total",
		Help: "Audit entries accepted by the trail, by kind (block, warn, override, fallback, audit, action).",
	}, []string{"kind"})
	m.AuditDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "audit_dropped_total",
		Help: "Audit entries dropped because the writer's queue was full (decisions never wait for the trail).",
	})
	m.AuditWriteErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "audit_write_errors_total",
		Help: "Audit entries lost because the audit store kept failing.",
	})
	m.own = []prometheus.Collector{m.decisions, m.ruleMatches, m.latency, m.candidates, m.fallbacks, m.overrides,
		m.overrideRefusals, m.reservationClash, m.redisCalls, m.redisErrors, m.redisPipelineCmds, m.httpCalls,
		m.httpErrors, m.AuditEntries, m.AuditDropped, m.AuditWriteErrors}
	for _, c := range m.own {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Observe implements rules.Observer: it counts one decision. It only touches in-memory
// counters, so it is cheap enough for the decision path.
func (m *Metrics) Observe(_ context.Context, ev rules.Event) {
	d := ev.Decision
	table := ev.Request.Record.Entity
	ep := ev.Request.EntryPoint
	m.decisions.WithLabelValues(table, string(d.Outcome), decidingRule(d), ep).Inc()
	m.latency.WithLabelValues(table).Observe(ev.Latency.Seconds())
	if d.Fallback != "" {
		m.fallbacks.WithLabelValues(table, d.Fallback).Inc()
	} else {
		// A fallback scored nothing: its zero would only blur the block sizes.
		m.candidates.WithLabelValues(table).Observe(float64(d.Candidates))
	}
	for _, mt := range d.Matches {
		m.ruleMatches.WithLabelValues(table, mt.Rule, string(mt.Level), string(mt.Action), ep).Inc()
		if mt.Reserved {
			m.reservationClash.WithLabelValues(table).Inc()
		}
	}
	if d.Overridden {
		m.overrides.WithLabelValues(table, overriddenRule(d)).Inc()
	}
	if d.OverrideError != "" {
		m.overrideRefusals.WithLabelValues(table).Inc()
	}
}

// decidingRule is the rule of the best match whose action produced the decision's outcome,
// or "none" (no match decided: an allow, or a fallback).
func decidingRule(d rules.Decision) string {
	want := d.Outcome
	if d.Overridden {
		want = rules.OutcomeBlock // the rule that blocked before the override
	}
	if want == rules.OutcomeAllow || d.Fallback != "" {
		return "none"
	}
	for _, mt := range d.Matches {
		if MatchOutcome(mt) == want {
			return mt.Rule
		}
	}
	return "none"
}

func overriddenRule(d rules.Decision) string {
	for _, mt := range d.Matches {
		if MatchOutcome(mt) == rules.OutcomeBlock {
			return mt.Rule
		}
	}
	return "none"
}

// MatchOutcome is the outcome a match asks for given its action: block-action matches at
// block level block, warn-action matches and block-action matches below the block threshold
// warn, every other action (audit, notify, merge, review) allows. It mirrors the engine.
func MatchOutcome(m rules.Match) rules.Outcome {
	switch m.Action {
	case rules.ActionAudit, rules.ActionNotify, rules.ActionMerge, rules.ActionReview:
		return rules.OutcomeAllow
	case rules.ActionWarn:
		return rules.OutcomeWarn
	}
	return m.Level
}

// GaugeFunc registers a gauge whose value is read from fn at every scrape (index size,
// reservations held). fn runs on the scrape, not on the decision path; keep it fast.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, fn)
	m.Registry.MustRegister(g)
	m.own = append(m.own, g)
}

// CounterFunc registers a counter of the dedupegate namespace read from fn (a count kept by
// the component itself).
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, fn)
	m.Registry.MustRegister(c)
	m.own = append(m.own, c)
}

// IndexSize registers dedupegate_index_records, read from fn (e.g. index.Memory.Len).
func (m *Metrics) IndexSize(fn func() float64) {
	m.GaugeFunc("index_records", "Records held by the candidate index.", fn)
}

// IndexReplica registers the metrics of a replica of the Redis index (index/replica):
// dedupegate_index_replica_fresh (1 while the copy answers decisions), and the counters
// dedupegate_index_replica_loads_total and dedupegate_index_replica_redis_lookups_total.
func (m *Metrics) IndexReplica(fresh func() bool, loads, redisLookups func() int64) {
	m.GaugeFunc("index_replica_fresh", "1 while this instance's copy of the index answers decisions, 0 while they read Redis (loading, reloading, or behind).",
		func() float64 {
			if fresh() {
				return 1
			}
			return 0
		})
	m.CounterFunc("index_replica_loads_total", "Full loads of this instance's copy of the index from Redis (the first and every reload).",
		func() float64 { return float64(loads()) })
	m.CounterFunc("index_replica_redis_lookups_total", "Lookups sent to Redis because this instance's copy was not fresh.",
		func() float64 { return float64(redisLookups()) })
}

// ReservationsHeld registers dedupegate_reservations_held, read from fn.
func (m *Metrics) ReservationsHeld(fn func() float64) {
	m.GaugeFunc("reservations_held", "Strong-key reservations currently held against concurrent creates.", fn)
}

// RedisHook returns a go-redis hook that times every command and pipeline of the client it
// is added to (client.AddHook), labelled caller=name unless the call's context names another
// caller (WithRedisCaller: the audit trail sharing the index's client). For a ClusterClient
// the hook sees a pipeline once even when it spans several nodes.
func (m *Metrics) RedisHook(name string) redis.Hook { return &redisHook{m: m, client: name} }

type callerKey struct{}

// WithRedisCaller labels the Redis calls made with ctx as caller's in the Redis metrics.
func WithRedisCaller(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

func callerOf(ctx context.Context, def string) string {
	if c, ok := ctx.Value(callerKey{}).(string); ok {
		return c
	}
	return def
}

type redisHook struct {
	m      *Metrics
	client string
}

func (h *redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		c, err := next(ctx, network, addr)
		h.done(callerOf(ctx, h.client), "dial", start, err)
		return c, err
	}
}

func (h *redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.done(callerOf(ctx, h.client), cmd.Name(), start, err)
		return err
	}
}

func (h *redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		caller := callerOf(ctx, h.client)
		h.m.redisPipelineCmds.WithLabelValues(caller).Add(float64(len(cmds)))
		h.done(caller, "pipeline", start, err)
		return err
	}
}

func (h *redisHook) done(caller, op string, start time.Time, err error) {
	op = strings.ToLower(op)
	h.m.redisCalls.WithLabelValues(caller, op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, redis.Nil) && !handshakeRefusal(op, err) {
		h.m.redisErrors.WithLabelValues(caller, op).Inc()
	}
}

// handshakeRefusal reports a server's refusal of an optional connection-setup command (HELLO
// or CLIENT MAINT_NOTIFICATIONS on a server that lacks it): go-redis falls back, so it is not
// a failed call.
func handshakeRefusal(op string, err error) bool {
	var re redis.Error
	return (op == "hello" || op == "client") && errors.As(err, &re)
}

// RoundTripper wraps next (http.DefaultTransport when nil) so that every request to a
// dependency is timed and counted, labelled dependency=name. Requests are labelled by method
// and status class only: URLs (which carry OData filters with personal data) never become
// labels.
func (m *Metrics) RoundTripper(name string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{m: m, dep: name, next: next}
}

type roundTripper struct {
	m    *Metrics
	dep  string
	next http.RoundTripper
}

func (t roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	status, reason := "error", "transport"
	if err == nil {
		status, reason = statusClass(resp.StatusCode), ""
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			reason = "throttled"
		case resp.StatusCode >= 500:
			reason = "server_error"
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		reason = "timeout"
	}
	t.m.httpCalls.WithLabelValues(t.dep, req.Method, status).Observe(time.Since(start).Seconds())
	if reason != "" {
		t.m.httpErrors.WithLabelValues(t.dep, reason).Inc()
	}
	return resp, err
}

func statusClass(code int) string {
	if code == http.StatusTooManyRequests {
		return "429"
	}
	return strconv.Itoa(code/100) + "xx"
}
