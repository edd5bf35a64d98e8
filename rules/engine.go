package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dedupegate/dedupegate/matcher"
)

// Outcome is what a decision tells the caller to do with the save.
type Outcome string

// The three outcomes. Warn is an allow that the caller should show or record.
const (
	OutcomeAllow Outcome = "allow"
	OutcomeWarn  Outcome = "warn"
	OutcomeBlock Outcome = "block"
)

// Request is one record to check.
type Request struct {
	// Record is the row as it will be after the save: for an Update, the Target merged over the
	// pre-image. Record.ID is empty for a Create without a client-supplied id.
	Record matcher.Record
	// Message is the operation: "Create", "Update", or "Check" for the check API and scan.
	Message string
	// UserID and UserAADID identify the caller (systemuserid and Entra object id).
	UserID    string
	UserAADID string
	// EntryPoint is one of the Entry* constants; it selects per-entry-point actions.
	EntryPoint string
	// CorrelationID is Dataverse's correlation id (or the check API's request id), for audit.
	CorrelationID string
	// Holder, when set on a Create, makes the engine reserve the record's strong keys for it so
	// that a concurrent create of the same person is blocked. It must be the same across
	// Dataverse's one retry of a request.
	Holder string
	// OverrideToken is an "Ignore and Save" token; see OverrideVerifier.
	OverrideToken string
	// Prepared, when set, returns Record's prepared values for a rule when the caller has them
	// already (the scan prepares each row to file it, then checks it: index.PrepareEach), nil
	// otherwise. The engine uses them, and the blocking keys kept in them, for a symmetric
	// rule (matcher.Rule.Symmetric), instead of preparing Record again.
	Prepared func(*Rule) *matcher.Prepared
}

// Match is one existing (or concurrently reserved) record that a rule matched.
type Match struct {
	Rule    string                `json:"rule"`
	Action  Action                `json:"action"`
	Level   Outcome               `json:"level"` // block (≥ block threshold) or warn
	Entity  string                `json:"entity"`
	ID      string                `json:"id"`
	Name    string                `json:"name,omitempty"`
	Score   float64               `json:"score"`
	Reasons []string              `json:"reasons"`
	Fields  []matcher.FieldResult `json:"fields,omitempty"`
	// Reserved is set when the match is a concurrent save holding the same strong key, not a
	// stored record; ID is then empty.
	Reserved bool `json:"reserved,omitempty"`
}

// Decision is the engine's answer.
type Decision struct {
	Outcome Outcome `json:"decision"`
	Matches []Match `json:"matches"`
	// Fallback is "fail-open" or "fail-closed" when the failure policy decided because the
	// engine could not (Error says why).
	Fallback string `json:"fallback,omitempty"`
	Error    string `json:"error,omitempty"`
	// Overridden is set when a valid override token turned a block into an allow;
	// OverrideError says why a presented token was refused.
	Overridden    bool   `json:"overridden,omitempty"`
	OverrideError string `json:"override_error,omitempty"`
	// Candidates is how many records the index returned to score (after MaxCandidates): the
	// block size, which drives the decision's cost. Not part of any answer.
	Candidates int `json:"-"`
}

// Reasons renders the decision's matches as "[rule] reason; reason" lines, best first.
func (d Decision) Reasons() []string {
	out := make([]string, 0, len(d.Matches))
	for _, m := range d.Matches {
		who := m.Entity + " " + m.ID
		if m.Name != "" {
			who = fmt.Sprintf("%s %s (%s)", m.Entity, m.ID, m.Name)
		}
		if m.Reserved {
			who = "a concurrent save"
		}
		out = append(out, fmt.Sprintf("[%s] %s matches %s, score %.2f: %s", m.Rule, m.Level, who, m.Score, strings.Join(m.Reasons, "; ")))
	}
	return out
}

// Lookup asks the index for candidates and, optionally, reserves strong keys in the same
// round trips.
type Lookup struct {
	// Keys are blocking keys; the index returns the records filed under any of them.
	Keys []string
	// PerKeyLimit caps the records read per key (the guard against huge blocks).
	PerKeyLimit int
	// MaxBlocks[i] is the maximum of Keys[i], a rule's broad key: the index skips the key
	// when more records than that are filed under it (block purging). 0, or past the end of
	// MaxBlocks: no maximum. Use SkipAt and ReadForAt.
	MaxBlocks []int
	// Elsewhere counts, per key, records of the same block that the caller holds apart from
	// this index (the scan's earlier rows of the file): SkipAt counts them toward the maximum, so
	// that a block is purged on its whole size, as if they were filed here too.
	Elsewhere map[string]int
	// Into is storage the index may append the candidates to (LookupResult.Records then
	// shares it): the engine reuses it from decision to decision, and gives it only to an
	// index that looks up inline (InlineLooker). An index may ignore it.
	Into []matcher.Record
	// Reserve are strong keys to claim for Holder for TTL. A key already claimed by Holder
	// (Dataverse's retry of the same request) is claimed again, not reported as a conflict.
	Reserve []string
	Holder  string
	TTL     time.Duration
}

// MaxAt returns the maximum of Keys[i] (0: none).
func (q Lookup) MaxAt(i int) int {
	if i < len(q.MaxBlocks) {
		return q.MaxBlocks[i]
	}
	return 0
}

// SkipAt reports whether the index skips Keys[i], filed for size records: the key has a
// maximum and size, with the key's Elsewhere, exceeds it. An index learns whether a block
// exceeds its maximum by reading at most ReadForAt(i) of its records.
func (q Lookup) SkipAt(i, size int) bool {
	m := q.MaxAt(i)
	if m <= 0 {
		return false
	}
	if q.Elsewhere != nil {
		size += q.Elsewhere[q.Keys[i]]
	}
	return size > m
}

// ReadForAt returns how many records of Keys[i]'s block the index needs to read: its maximum
// + 1 for a key with one (enough to tell whether its block is over it; PerKeyLimit then caps
// what is returned), else PerKeyLimit. 0: all of them.
func (q Lookup) ReadForAt(i int) int {
	if m := q.MaxAt(i); m > 0 {
		return m + 1
	}
	return q.PerKeyLimit
}

// LookupResult is the index's answer.
type LookupResult struct {
	// Records are the candidates, their attributes in Attrs or packed (matcher.Record.Packed:
	// read them with Attr, or Unpacked for a map).
	Records []matcher.Record
	// Conflicts are the Reserve keys held by another holder.
	Conflicts []string
	// Skipped are the keys of the lookup skipped as over their maximum (Lookup.SkipAt), each
	// once, reported when the lookup's Elsewhere is not nil: a caller that also holds records
	// under them skips them too.
	Skipped []string
}

// Index is the candidate index as the engine uses it.
type Index interface {
	// Lookup returns the candidates filed under q.Keys and performs q's reservations.
	// An error means the index could not answer (down, timed out); the engine then tries the
	// fallback source and finally the failure policy.
	Lookup(ctx context.Context, q Lookup) (LookupResult, error)
	// Release drops reservations of keys held by holder (after a block).
	Release(ctx context.Context, keys []string, holder string) error
}

// InlineReleaser is an Index whose Release never waits on the network (it is in-process, or
// it queues the release for a later round trip): the engine calls it on the decision path
// instead of from a goroutine of its own.
type InlineReleaser interface {
	ReleasesInline()
}

// InlineLooker is an Index that can say its Lookup never waits on the network (an index held
// in memory): the engine then calls it without IndexTimeout's timer, a cost worth sparing
// when a scan checks a million rows.
type InlineLooker interface {
	LooksUpInline() bool
}

// LateReserver is an index whose lookups are in memory (InlineLooker) but whose strong-key
// reservations are claimed elsewhere (a replica of the Redis index: candidates in the gateway,
// claims in Redis). The engine then looks up without claiming, and claims a create's strong keys
// only when its decision is not a block already: a create blocked by an existing record needs no
// claim, and has none to give back. The claim's conflicts block as Lookup's would. Reserve
// returns the keys another holder has, claiming none of them when there are any.
// ReservesLate says whether it claims late for the decision at hand (a replica whose copy is
// not fresh reads Redis, and then claims in the lookup's own round trip, as the Redis index
// does).
type LateReserver interface {
	ReservesLate() bool
	Reserve(ctx context.Context, keys []string, holder string, ttl time.Duration) (conflicts []string, err error)
}

// FallbackSource finds candidates without the index (one OData query per decision).
type FallbackSource interface {
	Candidates(ctx context.Context, rules []*Rule, rec matcher.Record) ([]matcher.Record, error)
}

// Exceptions knows pairs marked "not a duplicate".
type Exceptions interface {
	NotDuplicate(entityA, idA, entityB, idB string) bool
}

// OverrideVerifier checks an "Ignore and Save" token against the request and the matches it
// would override. A nil error means the override is valid.
type OverrideVerifier interface {
	Verify(ctx context.Context, token string, req Request, matches []Match) error
}

// Event is what observers (metrics, audit, follow-up actions) receive after every decision.
type Event struct {
	Time     time.Time
	Request  Request
	Decision Decision
	Latency  time.Duration
}

// Observer receives decision events. Observe runs on the decision path: it must not block.
type Observer interface {
	Observe(ctx context.Context, ev Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, ev Event)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, ev Event) { f(ctx, ev) }

// Policy is what to do when the engine cannot decide.
type Policy string

// Failure policies: open allows the save, closed blocks it.
const (
	FailOpen   Policy = "open"
	FailClosed Policy = "closed"
)

// EngineConfig tunes the engine. Zero values take the documented defaults.
type EngineConfig struct {
	// Deadline bounds one decision. Defaults to 1.5s: far inside Dataverse's 60 s webhook
	// timeout, short enough that a user's save never visibly hangs.
	Deadline time.Duration
	// IndexTimeout bounds the index lookup, leaving the rest of the deadline for the fallback
	// source. Defaults to Deadline/3.
	IndexTimeout time.Duration
	// FailurePolicy is the default policy; TablePolicy overrides it per table. Default open.
	FailurePolicy Policy
	TablePolicy   map[string]Policy
	// PerKeyLimit caps records read per blocking key. Defaults to 200.
	PerKeyLimit int
	// MaxCandidates caps the candidates scored per decision. Defaults to 500.
	MaxCandidates int
	// Reservations turns on strong-key reservations for Creates that carry a Holder.
	Reservations bool
	// ReservationTTL defaults to 3 minutes: longer than Dataverse's 2-minute operation limit.
	ReservationTTL time.Duration
	// MaxMatches caps the matches reported per decision. Defaults to 10.
	MaxMatches int
}

func (c *EngineConfig) setDefaults() {
	if c.Deadline <= 0 {
		c.Deadline = 1500 * time.Millisecond
	}
	if c.IndexTimeout <= 0 {
		c.IndexTimeout = c.Deadline / 3
	}
	if c.FailurePolicy == "" {
		c.FailurePolicy = FailOpen
	}
	if c.PerKeyLimit <= 0 {
		c.PerKeyLimit = 200
	}
	if c.MaxCandidates <= 0 {
		c.MaxCandidates = 500
	}
	if c.ReservationTTL <= 0 {
		c.ReservationTTL = 3 * time.Minute
	}
	if c.MaxMatches <= 0 {
		c.MaxMatches = 10
	}
}

// Engine evaluates records against a rule set. It is safe for concurrent use.
type Engine struct {
	cfg        EngineConfig
	rules      atomic.Pointer[Set]
	index      Index
	fallback   FallbackSource
	exceptions Exceptions
	override   OverrideVerifier
	observers  []Observer
	now        func() time.Time
}

// Option configures an Engine.
type Option func(*Engine)

// WithFallback sets the source tried when the index fails.
func WithFallback(f FallbackSource) Option { return func(e *Engine) { e.fallback = f } }

// WithExceptions sets the "not a duplicate" pair list.
func WithExceptions(x Exceptions) Option { return func(e *Engine) { e.exceptions = x } }

// WithOverride sets the override-token verifier. Without one, tokens are refused.
func WithOverride(v OverrideVerifier) Option { return func(e *Engine) { e.override = v } }

// WithObserver adds an observer.
func WithObserver(o Observer) Option { return func(e *Engine) { e.observers = append(e.observers, o) } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// NewEngine builds an engine over a rule set and an index.
func NewEngine(set *Set, idx Index, cfg EngineConfig, opts ...Option) *Engine {
	cfg.setDefaults()
	e := &Engine{cfg: cfg, index: idx, now: time.Now}
	e.rules.Store(set)
	for _, o := range opts {
		o(e)
	}
	return e
}

// Rules returns the current rule set.
func (e *Engine) Rules() *Set { return e.rules.Load() }

// SetRules swaps the rule set (reload) without disturbing decisions in flight.
func (e *Engine) SetRules(s *Set) { e.rules.Store(s) }

// Config returns the engine's effective configuration.
func (e *Engine) Config() EngineConfig { return e.cfg }

// AddObserver adds an observer after construction (wiring order in main).
func (e *Engine) AddObserver(o Observer) { e.observers = append(e.observers, o) }

// evalScratch is one decision's working space, reused from decision to decision: the
// candidates decoded one by one, and the storage the index appends the candidates to
// (Lookup.Into).
type evalScratch struct {
	cand      matcher.CandidateScratch
	recs      []matcher.Record
	active    []*Rule
	prepared  []*matcher.Prepared
	keys      []string
	maxBlocks []int
}

// scratchPool holds the decisions' scratch space.
var scratchPool = sync.Pool{New: func() any { return &evalScratch{recs: make([]matcher.Record, 0, 32)} }}

// releaseTimeout bounds the background release of a blocked create's reservations.
const releaseTimeout = 2 * time.Second

// ErrNoCandidates is returned when neither the index nor the fallback could answer.
var ErrNoCandidates = errors.New("no candidate source answered")

// Decide evaluates req within the configured deadline and always returns a decision: when the
// engine cannot decide, the failure policy for the table decides and Decision.Fallback says so.
func (e *Engine) Decide(ctx context.Context, req Request) Decision {
	start := e.now()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Deadline)
	defer cancel()
	d, err := e.Evaluate(ctx, req)
	if err != nil {
		d = e.failurePolicy(req.Record.Entity, err)
	}
	ev := Event{Time: start, Request: req, Decision: d, Latency: e.now().Sub(start)}
	for _, o := range e.observers {
		o.Observe(ctx, ev)
	}
	return d
}

func (e *Engine) failurePolicy(entity string, err error) Decision {
	p := e.cfg.FailurePolicy
	if tp, ok := e.cfg.TablePolicy[entity]; ok {
		p = tp
	}
	d := Decision{Outcome: OutcomeAllow, Fallback: "fail-open", Error: err.Error(), Matches: []Match{}}
	if p == FailClosed {
		d.Outcome, d.Fallback = OutcomeBlock, "fail-closed"
	}
	return d
}

// Evaluate decides without the failure policy: an error means "could not decide".
func (e *Engine) Evaluate(ctx context.Context, req Request) (Decision, error) {
	set := e.rules.Load()
	// The decision's working space, reused from decision to decision (evalScratch).
	es := scratchPool.Get().(*evalScratch)
	var filled []matcher.Record // the candidates, when the index put them in es.recs
	defer func() {
		clear(filled) // no candidate kept alive by the pool
		clear(es.prepared)
		scratchPool.Put(es)
	}()
	active := es.active[:0]
	defer func() { es.active = active[:0] }()
	for _, r := range set.ForEntity(req.Record.Entity) {
		if r.BypassUsers[req.UserID] || (req.UserAADID != "" && r.BypassUsers[req.UserAADID]) {
			continue
		}
		active = append(active, r)
	}
	if len(active) == 0 {
		return Decision{Outcome: OutcomeAllow, Matches: []Match{}}, nil
	}

	// Normalise the record once per rule; collect blocking and strong keys.
	prepared := slices.Grow(es.prepared[:0], len(active))[:len(active)]
	es.prepared = prepared
	var keys, strong []string
	var maxBlocks []int
	var into []matcher.Record
	if il, ok := e.index.(InlineLooker); ok && il.LooksUpInline() {
		// An in-process index is done with the keys and storage when Lookup returns; a
		// remote one may still be at work after a timeout: it gets the decision's own.
		keys, maxBlocks, into = es.keys[:0], es.maxBlocks[:0], es.recs[:0]
		defer func() {
			clear(keys)
			es.keys, es.maxBlocks = keys[:0], maxBlocks[:0]
		}()
	}
	var strongRule map[string]*Rule
	for i, r := range active {
		if req.Prepared != nil && r.Matcher.Symmetric() {
			prepared[i] = req.Prepared(r)
		}
		if prepared[i] == nil {
			prepared[i] = r.Matcher.PrepareChecked(req.Record)
		}
		// A rule's own keys are distinct: only another rule's can repeat them. A record has a
		// few dozen keys at most: a linear search beats a map.
		distinct := len(keys) == 0
		rkeys := r.Matcher.BlockingKeys(prepared[i])
		maxima := r.Matcher.KeyMaxBlocks(prepared[i])
		for j, k := range rkeys {
			var m int
			if maxima != nil {
				m = int(maxima[j])
			} else {
				m = r.Matcher.KeyMaxBlock(k)
			}
			at := -1
			if !distinct {
				at = slices.Index(keys, k)
			}
			if at < 0 {
				keys = append(keys, k)
				maxBlocks = append(maxBlocks, m)
			} else if maxBlocks[at] > 0 && (m == 0 || m > maxBlocks[at]) {
				// Another rule reads the same key with a larger maximum (or none): it wins.
				maxBlocks[at] = m
			}
		}
		if e.cfg.Reservations && req.Holder != "" && req.Message == "Create" {
			for _, k := range r.Matcher.StrongKeys(prepared[i]) {
				if strongRule == nil {
					strongRule = map[string]*Rule{}
				}
				if _, ok := strongRule[k]; !ok {
					strongRule[k] = r
					strong = append(strong, k)
				}
			}
		}
	}

	// Candidates the index keeps prepared are decoded into scratch, reused from decision to
	// decision (a result holds strings of the candidates' forms, never the scratch's slices);
	// the candidates themselves are appended to its storage.
	scratch := &es.cand
	q := Lookup{Keys: keys, PerKeyLimit: e.cfg.PerKeyLimit, MaxBlocks: maxBlocks,
		Reserve: strong, Holder: req.Holder, TTL: e.cfg.ReservationTTL, Into: into}
	late, lateReserve := e.index.(LateReserver)
	if lateReserve = lateReserve && len(strong) > 0 && late.ReservesLate(); lateReserve {
		q.Reserve, q.Holder = nil, "" // claimed below, if the decision leaves it to claim
	}
	res, err := e.lookup(ctx, active, req, q)
	if err != nil {
		return Decision{}, err
	}
	if n := len(res.Records); into == nil || n == 0 {
		// No storage lent, or nothing in it.
	} else if unsafe.SliceData(res.Records) == unsafe.SliceData(into) {
		filled = res.Records
	} else if n > cap(es.recs) {
		// Outgrown (the index grew its own slice, or ignored Into): larger storage next
		// time. A slice the index returned is never reused: it may be the index's own.
		es.recs = make([]matcher.Record, 0, 2*n)
	}

	var matches []Match
	if len(res.Records) > e.cfg.MaxCandidates {
		res.Records = res.Records[:e.cfg.MaxCandidates]
	}
	scratch.Prefetch(res.Records)
	for i, r := range active {
		for _, c := range res.Records {
			if c.Entity != r.CandidateEntity {
				continue
			}
			// Only candidates at the warn threshold or above are reported: ScoreAbove stops
			// comparing one as soon as it cannot get there.
			sc, ok := r.Matcher.ScoreAbove(prepared[i], r.Matcher.PrepareCandidateWith(scratch, c), r.WarnThreshold)
			if !ok || sc.Score < r.WarnThreshold || sc.Score <= 0 {
				continue
			}
			// The record itself (an update) and pairs marked not duplicates are not matches.
			// Asked of the candidates kept only: a candidate's id is memory the scoring never
			// reads, and most candidates of a lookup are dropped.
			if c.ID != "" && c.ID == req.Record.ID && c.Entity == req.Record.Entity {
				continue
			}
			if e.exceptions != nil && req.Record.ID != "" && e.exceptions.NotDuplicate(req.Record.Entity, req.Record.ID, c.Entity, c.ID) {
				continue
			}
			m := Match{Rule: r.Name, Action: r.ActionFor(req.EntryPoint), Level: OutcomeWarn,
				Entity: c.Entity, ID: c.ID, Name: DisplayName(c), Score: round3(sc.Score),
				Reasons: sc.Reasons, Fields: sc.Fields}
			if sc.Score >= r.BlockThreshold {
				m.Level = OutcomeBlock
			}
			if m.Action == ActionMerge && sc.Score < r.MergeThreshold {
				// Never merge below the merge threshold: route the pair for review instead.
				m.Action = ActionReview
			}
			matches = append(matches, m)
		}
	}
	matches = e.rank(append(matches, e.reservedMatches(req, strongRule, res.Conflicts)...))

	d := Decision{Outcome: OutcomeAllow, Matches: matches, Candidates: len(res.Records)}
	for _, m := range matches {
		d.Outcome = MaxOutcome(d.Outcome, outcomeOf(m))
	}
	if d.Matches == nil {
		d.Matches = []Match{}
	}
	if d.Outcome == OutcomeBlock && req.OverrideToken != "" {
		if e.override == nil {
			d.OverrideError = "overrides are not enabled"
		} else if err := e.override.Verify(ctx, req.OverrideToken, req, matches); err != nil {
			d.OverrideError = err.Error()
		} else {
			d.Outcome, d.Overridden = OutcomeAllow, true
		}
	}
	if lateReserve {
		if d.Outcome != OutcomeBlock {
			// The save may happen: claim its strong keys now. Nothing to give back after: a
			// claim with conflicts claims nothing.
			rctx, cancel := context.WithTimeout(ctx, e.cfg.IndexTimeout)
			conflicts, err := late.Reserve(rctx, strong, req.Holder, e.cfg.ReservationTTL)
			cancel()
			switch {
			case err != nil && (e.fallback == nil || ctx.Err() != nil):
				return Decision{}, fmt.Errorf("index: reserve: %w", err)
			case err != nil:
				// As when the index fails a lookup and the fallback source answers: decided
				// on the candidates, with no claim.
			case len(conflicts) > 0:
				d.Matches = e.rank(append(d.Matches, e.reservedMatches(req, strongRule, conflicts)...))
				for _, m := range d.Matches {
					if m.Reserved {
						d.Outcome = MaxOutcome(d.Outcome, outcomeOf(m))
					}
				}
				if d.Outcome == OutcomeBlock {
					d.Overridden = false // an override never covers a concurrent save
				}
			}
		}
		return d, nil
	}
	if d.Outcome == OutcomeBlock && len(strong) > 0 {
		// The save will not happen: give the keys back so the user's corrected save is not
		// held up by our own reservation. Never a round trip on the decision path: an index
		// that queues releases (InlineReleaser) is called here, any other from a goroutine;
		// best effort, bounded by its own timeout; a lost release only means the keys expire
		// after ReservationTTL.
		release := func(keys []string, holder string) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			defer cancel()
			_ = e.index.Release(rctx, keys, holder)
		}
		if _, inline := e.index.(InlineReleaser); inline {
			release(strong, req.Holder)
		} else {
			go release(strong, req.Holder)
		}
	}
	return d, nil
}

// reservedMatches returns the matches that stand for strong keys another save holds.
func (e *Engine) reservedMatches(req Request, strongRule map[string]*Rule, conflicts []string) []Match {
	var out []Match
	for _, k := range conflicts {
		r := strongRule[k]
		out = append(out, Match{Rule: r.Name, Action: r.ActionFor(req.EntryPoint), Level: OutcomeBlock,
			Entity: r.CandidateEntity, Score: 1, Reserved: true,
			Reasons: []string{"a concurrent save of a record with the same " + keyKind(k) + " is in progress"}})
	}
	return out
}

// rank keeps each record's best match, best first, at most MaxMatches of them.
func (e *Engine) rank(matches []Match) []Match {
	matches = bestPerRecord(matches)
	sort.SliceStable(matches, func(a, b int) bool { return matches[a].Score > matches[b].Score })
	if len(matches) > e.cfg.MaxMatches {
		matches = matches[:e.cfg.MaxMatches]
	}
	return matches
}

func (e *Engine) lookup(ctx context.Context, active []*Rule, req Request, q Lookup) (LookupResult, error) {
	var res LookupResult
	var err error
	if il, ok := e.index.(InlineLooker); ok && il.LooksUpInline() {
		res, err = e.index.Lookup(ctx, q)
	} else {
		ictx, cancel := context.WithTimeout(ctx, e.cfg.IndexTimeout)
		res, err = e.index.Lookup(ictx, q)
		cancel()
	}
	if err == nil {
		return res, nil
	}
	if e.fallback == nil || ctx.Err() != nil {
		return LookupResult{}, fmt.Errorf("index: %w", err)
	}
	recs, ferr := e.fallback.Candidates(ctx, active, req.Record)
	if ferr != nil {
		return LookupResult{}, fmt.Errorf("%w: index: %w; fallback: %w", ErrNoCandidates, err, ferr)
	}
	return LookupResult{Records: recs}, nil
}

// outcomeOf maps a match to the outcome it asks for, given its action.
func outcomeOf(m Match) Outcome {
	switch m.Action {
	case ActionAudit, ActionNotify, ActionMerge, ActionReview:
		return OutcomeAllow
	case ActionWarn:
		return OutcomeWarn
	}
	return m.Level // block action: block at block level, warn below
}

// MaxOutcome returns the stronger of two outcomes: block over warn over allow.
func MaxOutcome(a, b Outcome) Outcome {
	if outcomeRank(b) > outcomeRank(a) {
		return b
	}
	return a
}

// outcomeRank orders outcomes: allow, warn, block.
func outcomeRank(o Outcome) int {
	switch o {
	case OutcomeWarn:
		return 1
	case OutcomeBlock:
		return 2
	}
	return 0
}

// bestPerRecord keeps, for each matched record, the match with the highest score.
func bestPerRecord(ms []Match) []Match {
	var best map[string]int // past a few matches; a linear search before
	out := ms[:0]
	for _, m := range ms {
		if m.Reserved {
			out = append(out, m)
			continue
		}
		i := -1
		if best != nil {
			if j, ok := best[m.Entity+"/"+m.ID]; ok {
				i = j
			}
		} else {
			for j := range out {
				if !out[j].Reserved && out[j].ID == m.ID && out[j].Entity == m.Entity {
					i = j
					break
				}
			}
		}
		if i >= 0 {
			if m.Score > out[i].Score {
				out[i] = m
			}
			continue
		}
		out = append(out, m)
		if best == nil && len(out) > 16 {
			best = make(map[string]int, 2*len(out))
			for j := range out {
				if !out[j].Reserved {
					best[out[j].Entity+"/"+out[j].ID] = j
				}
			}
		} else if best != nil {
			best[m.Entity+"/"+m.ID] = len(out) - 1
		}
	}
	return out
}

// keyKind returns the human part of a strong key ("emailaddress1" from "contact|emailaddress1|…").
func keyKind(k string) string {
	parts := strings.SplitN(k, "|", 3)
	if len(parts) == 3 {
		return parts[1]
	}
	return "identifier"
}

// DisplayName picks a human name for a record from the attributes it carries.
func DisplayName(r matcher.Record) string {
	for _, a := range []string{"fullname", "name", "subject"} {
		v, _ := r.Attr(a)
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	first, _ := r.Attr("firstname")
	last, _ := r.Attr("lastname")
	return strings.TrimSpace(first + " " + last)
}

func round3(f float64) float64 { return float64(int(f*1000+0.5)) / 1000 }
