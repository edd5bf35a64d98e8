package actions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/webhook"
)

// followUp is a decision's follow-up waiting for (or running after) its PostOperation call.
type followUp struct {
	seq           uint64
	CorrelationID string
	Message       string // Create or Update
	EntryPoint    string
	UserID        string
	Record        matcher.Record // as checked; ID empty for a Create
	Matches       []rules.Match
	At            time.Time
	taken         bool
	wire          string // JSON as put in the shared store, "" when not shared
}

// job is a follow-up whose record is committed.
type job struct {
	fu     *followUp
	id     string         // the committed record's id
	record matcher.Record // the committed row
}

// Runner runs follow-ups. It is both the rules.Observer that records them and the
// webhook.ChangeHandler that releases them; see the package doc. Build it with New, start it
// with Start, stop it with Close.
type Runner struct {
	cfg     config.Actions
	dv      Dataverse
	rules   func() *rules.Set
	exc     *Exceptions
	rec     Recorder
	idx     index.Writer
	log     *zap.Logger
	policy  RetryPolicy
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	reviews *Reviews

	mu      sync.Mutex
	pending map[string][]*followUp // by correlation id
	order   []*followUp            // oldest first; taken entries are skipped lazily
	live    int
	seq     uint64

	shared  SharedPending
	shareCh chan *followUp
	sharer  sync.WaitGroup

	sendMu  sync.RWMutex // held for reading while queueing, for writing while closing
	closed  atomic.Bool
	queue   chan job
	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup
	sweeper sync.WaitGroup
	started atomic.Bool
	busy    atomic.Int64 // queued or running jobs
}

// Option configures a Runner.
type Option func(*Runner)

// WithExceptions makes follow-ups skip pairs marked "not a duplicate".
func WithExceptions(x *Exceptions) Option { return func(r *Runner) { r.exc = x } }

// WithRecorder adds a recorder of outcomes (the log recorder is always there).
func WithRecorder(rec Recorder) Option {
	return func(r *Runner) { r.rec = append(r.rec.(Recorders), rec) }
}

// WithIndex lets a merge remove the deactivated record from the candidate index and re-file the
// surviving one at once, instead of waiting for the next sync.
func WithIndex(w index.Writer) Option { return func(r *Runner) { r.idx = w } }

// WithSharedPending shares pending follow-ups with the other gateway instances (see
// SharedPending).
func WithSharedPending(s SharedPending) Option { return func(r *Runner) { r.shared = s } }

// WithLogger sets the logger.
func WithLogger(l *zap.Logger) Option { return func(r *Runner) { r.log = l } }

// WithClock replaces time.Now and the retry sleep (tests).
func WithClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(r *Runner) {
		if now != nil {
			r.now = now
		}
		if sleep != nil {
			r.sleep = sleep
		}
	}
}

// New builds a runner. dv may be nil (no Dataverse configured): follow-ups are then recorded as
// failed. set returns the current rule set (the engine's Rules method).
func New(cfg config.Actions, dv Dataverse, set func() *rules.Set, opts ...Option) *Runner {
	r := &Runner{
		cfg: cfg, dv: dv, rules: set, rec: Recorders{}, log: zap.NewNop(),
		policy: RetryPolicy{Attempts: cfg.Retry.Attempts, Initial: cfg.Retry.InitialBackoff.D(), Max: cfg.Retry.MaxBackoff.D()},
		now:    time.Now, sleep: sleepCtx,
		pending: map[string][]*followUp{},
	}
	for _, o := range opts {
		o(r)
	}
	r.rec = append(Recorders{LogRecorder{Log: r.log}}, r.rec.(Recorders)...)
	r.policy.setDefaults()
	if r.cfg.Workers <= 0 {
		r.cfg.Workers = 4
	}
	if r.cfg.Queue <= 0 {
		r.cfg.Queue = 10000
	}
	if r.cfg.MaxPending <= 0 {
		r.cfg.MaxPending = 100000
	}
	if r.cfg.PendingTTL <= 0 {
		r.cfg.PendingTTL = config.Duration(time.Hour)
	}
	if dv != nil {
		r.reviews = NewReviews(dv, cfg.Review)
	}
	r.queue = make(chan job, r.cfg.Queue)
	r.shareCh = make(chan *followUp, r.cfg.Queue)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// Start launches the workers and the expiry sweep.
func (r *Runner) Start() {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	if r.shared != nil {
		r.sharer.Add(1)
		go r.runShare()
	}
	for i := 0; i < r.cfg.Workers; i++ {
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			for j := range r.queue {
				r.run(r.ctx, j)
				r.busy.Add(-1)
			}
		}()
	}
	r.sweeper.Add(1)
	go func() {
		defer r.sweeper.Done()
		every := min(max(r.cfg.PendingTTL.D()/60, time.Second), time.Minute)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
				r.expire(r.now())
			}
		}
	}()
}

// Close stops taking follow-ups, lets the workers finish the queued ones until ctx ends (then
// cancels them: each is recorded as failed), and records every follow-up still waiting for its
// PostOperation call as dropped.
func (r *Runner) Close(ctx context.Context) error {
	r.sendMu.Lock()
	if r.closed.Swap(true) {
		r.sendMu.Unlock()
		return nil
	}
	close(r.queue)
	close(r.shareCh)
	r.sendMu.Unlock()
	var err error
	if r.started.Load() {
		wdone := make(chan struct{})
		go func() { r.workers.Wait(); close(wdone) }()
		select {
		case <-wdone:
		case <-ctx.Done():
			err = fmt.Errorf("follow-ups still running at shutdown were cancelled: %w", ctx.Err())
			r.cancel()
			<-wdone
		}
	} else {
		for j := range r.queue {
			r.recordAll(context.Background(), j.fu, j.id, StatusDropped, "the gateway stopped before the follow-up ran")
		}
	}
	r.sharer.Wait() // every follow-up queued for sharing is in the shared store now
	r.cancel()
	r.sweeper.Wait()
	r.mu.Lock()
	var left []*followUp
	for _, fu := range r.order {
		if !fu.taken {
			fu.taken = true
			left = append(left, fu)
		}
	}
	r.pending, r.order, r.live = map[string][]*followUp{}, nil, 0
	r.mu.Unlock()
	handedOver := 0
	for _, fu := range left {
		if r.shared != nil && fu.wire != "" {
			handedOver++ // another instance takes it when its PostOperation call arrives there
			continue
		}
		r.recordAll(context.Background(), fu, "", StatusDropped, "the gateway stopped before the PostOperation call arrived")
	}
	if handedOver > 0 {
		r.log.Info("follow-ups left to the other instances in the shared store", zap.Int("follow_ups", handedOver))
	}
	return err
}

// Idle reports whether no follow-up is queued or running (tests, shutdown diagnostics).
func (r *Runner) Idle() bool { return r.busy.Load() == 0 }

// Pending returns the number of follow-ups waiting for their PostOperation call.
func (r *Runner) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

// followUpAction reports whether an action has a follow-up.
func followUpAction(a rules.Action) bool {
	return a == rules.ActionNotify || a == rules.ActionMerge || a == rules.ActionReview
}

// Observe implements rules.Observer: it records the follow-ups of an allowed save. It only
// touches memory.
func (r *Runner) Observe(ctx context.Context, ev rules.Event) {
	if !r.cfg.IsEnabled() || r.closed.Load() {
		return
	}
	d, req := ev.Decision, ev.Request
	if d.Outcome == rules.OutcomeBlock || d.Fallback != "" || (req.Message != "Create" && req.Message != "Update") {
		return
	}
	var ms []rules.Match
	for _, m := range d.Matches {
		// The rule's action fires at block level; a warn-level match is only reported. A
		// concurrent save (Reserved) has no record to act on yet.
		if followUpAction(m.Action) && m.Level == rules.OutcomeBlock && !m.Reserved && m.ID != "" {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return
	}
	rec := req.Record
	rec.Attrs = cloneAttrs(rec.Attrs)
	fu := &followUp{CorrelationID: strings.ToLower(req.CorrelationID), Message: req.Message, EntryPoint: req.EntryPoint,
		UserID: req.UserID, Record: rec, Matches: ms, At: r.now()}
	if fu.CorrelationID == "" {
		r.recordAll(context.Background(), fu, rec.ID, StatusFailed, "the decision carries no correlation id: its PostOperation call cannot be recognised")
		return
	}
	var evicted *followUp
	r.mu.Lock()
	r.seq++
	fu.seq = r.seq
	r.pending[fu.CorrelationID] = append(r.pending[fu.CorrelationID], fu)
	r.order = append(r.order, fu)
	r.live++
	if r.live > r.cfg.MaxPending {
		evicted = r.popOldestLocked()
	}
	r.mu.Unlock()
	r.share(ctx, fu)
	if evicted != nil && r.unshare(evicted) {
		r.recordAll(context.Background(), evicted, evicted.Record.ID, StatusExpired,
			fmt.Sprintf("more than %d follow-ups waiting for their PostOperation call (actions.max_pending)", r.cfg.MaxPending))
	}
}

// popOldestLocked removes and returns the oldest live follow-up.
func (r *Runner) popOldestLocked() *followUp {
	for len(r.order) > 0 {
		fu := r.order[0]
		r.order = r.order[1:]
		if fu.taken {
			continue
		}
		r.removeLocked(fu)
		return fu
	}
	return nil
}

// removeLocked marks fu taken and drops it from the correlation map.
func (r *Runner) removeLocked(fu *followUp) {
	fu.taken = true
	r.live--
	list := r.pending[fu.CorrelationID]
	for i, x := range list {
		if x == fu {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.pending, fu.CorrelationID)
	} else {
		r.pending[fu.CorrelationID] = list
	}
}

// expire records follow-ups older than the pending TTL.
func (r *Runner) expire(now time.Time) {
	cut := now.Add(-r.cfg.PendingTTL.D())
	var old []*followUp
	r.mu.Lock()
	for len(r.order) > 0 {
		fu := r.order[0]
		if !fu.taken && fu.At.After(cut) {
			break
		}
		r.order = r.order[1:]
		if !fu.taken {
			r.removeLocked(fu)
			old = append(old, fu)
		}
	}
	r.mu.Unlock()
	for _, fu := range old {
		if !r.unshare(fu) {
			continue // another instance took and ran it
		}
		r.recordAll(context.Background(), fu, fu.Record.ID, StatusExpired,
			fmt.Sprintf("no PostOperation call within %s (is the asynchronous step registered and its job running?)", r.cfg.PendingTTL.D()))
	}
}

// changeView is what matching a follow-up needs of a committed change.
type changeView struct {
	cid, entity, message, id string
	attrs                    map[string]string
}

func viewOf(ch webhook.Change) changeView {
	return changeView{cid: strings.ToLower(ch.CorrelationID), entity: ch.Entity, message: ch.Message, id: ch.ID, attrs: ch.Record.Attrs}
}

// releaseScore reports whether a committed change releases fu — same correlation id, table
// and message, same id when the decision knew it (Update) — and how many of the checked values
// the committed row shares (to tell apart several rows created under one correlation id;
// system columns such as modifiedon differ between the stages, so no single value is
// required to match).
func releaseScore(fu *followUp, ch changeView) (int, bool) {
	if fu.CorrelationID != ch.cid || fu.Record.Entity != ch.entity || fu.Message != ch.message {
		return 0, false
	}
	if fu.Record.ID != "" && !strings.EqualFold(fu.Record.ID, ch.id) {
		return 0, false
	}
	score := 0
	for k, v := range fu.Record.Attrs {
		if cv, ok := ch.attrs[k]; ok {
			if cv == v {
				score++
			} else {
				score--
			}
		}
	}
	return score, true
}

// take finds and removes the follow-up a committed change releases, the best-scoring one.
func (r *Runner) take(ch changeView) *followUp {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best *followUp
	bestScore := 0
	for _, fu := range r.pending[ch.cid] {
		if score, ok := releaseScore(fu, ch); ok && (best == nil || score > bestScore) {
			best, bestScore = fu, score
		}
	}
	if best != nil {
		r.removeLocked(best)
	}
	return best
}

// HandleChange implements webhook.ChangeHandler: a committed Create or Update releases its
// follow-up to the workers. It never waits for Dataverse and never fails the webhook call.
func (r *Runner) HandleChange(ctx context.Context, ch webhook.Change) error {
	if ch.Message != "Create" && ch.Message != "Update" {
		return nil
	}
	view := viewOf(ch)
	fu := r.take(view)
	if fu != nil && !r.unshare(fu) {
		return nil // another instance took it from the shared store and runs it
	}
	if fu == nil {
		if fu = r.takeShared(ctx, view); fu == nil {
			return nil
		}
	}
	rec := ch.Record
	rec.ID = ch.ID
	if rec.Entity == "" {
		rec.Entity = ch.Entity
	}
	j := job{fu: fu, id: strings.ToLower(ch.ID), record: rec}
	r.sendMu.RLock()
	defer r.sendMu.RUnlock()
	if r.closed.Load() {
		r.recordAll(context.Background(), fu, j.id, StatusDropped, "the gateway is stopping")
		return nil
	}
	r.busy.Add(1)
	select {
	case r.queue <- j:
	default:
		r.busy.Add(-1)
		r.recordAll(context.Background(), fu, j.id, StatusDropped,
			fmt.Sprintf("the follow-up queue is full (actions.queue %d)", r.cfg.Queue))
	}
	return nil
}

func errorField(err error) zap.Field       { return zap.Error(err) }
func correlationField(id string) zap.Field { return zap.String("correlation_id", id) }

// outcome starts the outcome of one match.
func (r *Runner) outcome(fu *followUp, id string, m rules.Match, a rules.Action) Outcome {
	return Outcome{Time: r.now().UTC(), CorrelationID: fu.CorrelationID, Action: a, Rule: m.Rule,
		Entity: fu.Record.Entity, ID: id, MatchEntity: m.Entity, MatchID: m.ID, Score: m.Score,
		EntryPoint: fu.EntryPoint, UserID: fu.UserID}
}

// recordAll records one status for every match of a follow-up.
func (r *Runner) recordAll(ctx context.Context, fu *followUp, id string, st Status, why string) {
	for _, m := range fu.Matches {
		o := r.outcome(fu, id, m, m.Action)
		o.Status, o.Error = st, why
		r.rec.RecordFollowUp(ctx, o)
	}
}

// record completes and records an outcome.
func (r *Runner) record(ctx context.Context, o Outcome, st Status, attempts int, err error, detail string) {
	o.Status, o.Attempts, o.Detail = st, attempts, detail
	if err != nil {
		o.Error = err.Error()
	}
	r.rec.RecordFollowUp(ctx, o)
}

// run executes a committed follow-up, match by match, best score first (the engine's order).
func (r *Runner) run(ctx context.Context, j job) {
	newRec := j.record
	mergedInto := ""
	for _, m := range j.fu.Matches {
		o := r.outcome(j.fu, j.id, m, m.Action)
		if r.dv == nil {
			r.record(ctx, o, StatusFailed, 0, errNoDataverse, "")
			continue
		}
		if r.exc != nil && r.exc.NotDuplicate(newRec.Entity, j.id, m.Entity, m.ID) {
			r.record(ctx, o, StatusSkipped, 0, nil, "the pair is marked not a duplicate")
			continue
		}
		switch m.Action {
		case rules.ActionNotify:
			r.notify(ctx, j, m, o)
		case rules.ActionReview:
			r.review(ctx, j, m, o, "")
		case rules.ActionMerge:
			if mergedInto != "" {
				o.Action = rules.ActionMerge
				r.record(ctx, o, StatusRerouted, 0, nil, "the new record was already merged into "+mergedInto+"; routed to review")
				r.review(ctx, j, m, r.outcome(j.fu, j.id, m, rules.ActionReview),
					"The new record was merged into "+mergedInto+" (a better match); this pair was not merged.")
				continue
			}
			if r.merge(ctx, j, m, o) {
				mergedInto = m.Entity + " " + m.ID
			}
		}
	}
}

func cloneAttrs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// rule returns the current rule of that name.
func (r *Runner) rule(name string) *rules.Rule {
	if r.rules == nil {
		return nil
	}
	set := r.rules()
	if set == nil {
		return nil
	}
	for _, rl := range set.Rules() {
		if rl.Name == name {
			return rl
		}
	}
	return nil
}
