package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/rules"
)

// Counter is the part of a Prometheus counter the trail uses.
type Counter interface{ Inc() }

// Options tunes a Trail. Zero values take the documented defaults.
type Options struct {
	// Buffer is the queue length between decisions and the writer. Default 8192.
	Buffer int
	// Mask masks personal data in reason texts (see the package doc).
	Mask bool
	// Log writes each entry as a structured log line ("audit"), without reason texts.
	Log bool
	// Dropped counts entries dropped on a full queue; WriteErrors entries lost to store
	// failures; Accepted entries queued, by kind. Each may be nil.
	Dropped     Counter
	WriteErrors Counter
	Accepted    func(kind Kind)
	// BatchSize caps the entries written per store call. Default 256.
	BatchSize int
	// RetryFor is how long a failed batch is retried before it is counted lost. Default 30s.
	RetryFor time.Duration
	// Linger is how long the writer waits, once an entry is queued, for others to join its
	// batch: the writer sleeps instead of waking for every decision, and writes one round
	// trip where it would write several. Default DefaultLinger; negative: write at once.
	// Flush does not wait for it; Close waits at most that long.
	Linger time.Duration
}

// DefaultLinger is the writer's default Linger: at 1,000 decisions a second about three
// round trips in four are saved, and an entry reaches the store within ~10 ms.
const DefaultLinger = 10 * time.Millisecond

// Trail turns decisions into audit entries and writes them in the background. It is a
// rules.Observer. Build it with New, stop it with Close.
type Trail struct {
	store Store
	log   *zap.Logger
	opt   Options
	ch    chan item
	done  chan struct{}

	closeOnce sync.Once
	closed    atomic.Bool
	sendMu    sync.RWMutex // held for reading while sending, for writing while closing

	dropped     atomic.Int64 // drops since the last drop log line
	lastDropLog atomic.Int64 // unix nanos
	flushReq    chan chan struct{}
}

// New starts a trail writing to store.
func New(store Store, log *zap.Logger, opt Options) *Trail {
	if opt.Buffer <= 0 {
		opt.Buffer = 8192
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 256
	}
	if opt.RetryFor <= 0 {
		opt.RetryFor = 30 * time.Second
	}
	if opt.Linger == 0 {
		opt.Linger = DefaultLinger
	}
	if log == nil {
		log = zap.NewNop()
	}
	t := &Trail{store: store, log: log, opt: opt, ch: make(chan item, opt.Buffer), done: make(chan struct{}),
		flushReq: make(chan chan struct{})}
	go t.run()
	return t
}

// Store returns the trail's store.
func (t *Trail) Store() Store { return t.store }

// item is what the queue carries: a decision event, turned into an entry (and masked) by the
// writer, off the decision path; or an entry built elsewhere.
type item struct {
	ev    *rules.Event
	entry Entry
}

// Observe implements rules.Observer. A decision that makes an entry is queued without waiting
// (a full queue drops it, counts and logs it); the entry is built and masked by the writer.
// The event's record and matches must not be changed after Decide returns (nothing does).
func (t *Trail) Observe(_ context.Context, ev rules.Event) {
	kind := KindOf(ev.Decision)
	if kind == "" {
		return
	}
	t.enqueue(item{ev: &ev}, kind)
}

// Record queues an entry built elsewhere (follow-up actions) without waiting. It returns false
// when the entry was dropped (queue full or trail closed).
func (t *Trail) Record(e Entry) bool {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	return t.enqueue(item{entry: e}, e.Kind)
}

func (t *Trail) enqueue(it item, kind Kind) bool {
	t.sendMu.RLock()
	defer t.sendMu.RUnlock()
	if t.closed.Load() {
		t.drop()
		return false
	}
	select {
	case t.ch <- it:
		if t.opt.Accepted != nil {
			t.opt.Accepted(kind)
		}
		return true
	default:
		t.drop()
		return false
	}
}

// drop counts a dropped entry and logs at most once a second with the count since the last
// line, so an overloaded writer does not also flood the log.
func (t *Trail) drop() {
	if t.opt.Dropped != nil {
		t.opt.Dropped.Inc()
	}
	n := t.dropped.Add(1)
	now := time.Now().UnixNano()
	last := t.lastDropLog.Load()
	if now-last >= int64(time.Second) && t.lastDropLog.CompareAndSwap(last, now) {
		t.dropped.Add(-n)
		t.log.Warn("audit entries dropped: the audit queue is full", zap.Int64("dropped", n), zap.Int("buffer", t.opt.Buffer))
	}
}

// List reads entries back from the store (see Store.List).
func (t *Trail) List(ctx context.Context, since time.Time, f Filter) ([]Entry, error) {
	return t.store.List(ctx, since, f)
}

// Flush waits until every entry queued before the call is stored (or given up on), or ctx
// ends. Tests and shutdown use it.
func (t *Trail) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case t.flushReq <- ack:
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting entries, writes what is queued (bounded by ctx) and stops the writer.
func (t *Trail) Close(ctx context.Context) error {
	t.closeOnce.Do(func() {
		t.sendMu.Lock()
		t.closed.Store(true)
		close(t.ch)
		t.sendMu.Unlock()
	})
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the background writer: it takes what is queued in batches, logs each entry and
// stores the batch, retrying a failing store with backoff for up to RetryFor while new
// entries keep queueing (and, once the queue is full, dropping).
func (t *Trail) run() {
	defer close(t.done)
	batch := make([]Entry, 0, t.opt.BatchSize)
	add := func(it item) {
		if it.ev != nil {
			if e, ok := FromEvent(*it.ev, t.opt.Mask); ok {
				batch = append(batch, e)
			}
			return
		}
		batch = append(batch, it.entry)
	}
	var linger *time.Timer
	if t.opt.Linger > 0 {
		linger = time.NewTimer(time.Hour)
		linger.Stop()
	}
	for {
		var ack chan struct{}
		select {
		case it, ok := <-t.ch:
			if !ok {
				return
			}
			add(it)
			if linger != nil && len(t.ch) < t.opt.BatchSize-1 {
				// Sleep rather than receive: a sender to a buffered channel with no receiver
				// waiting wakes nobody. Only a flush request cuts the sleep short.
				linger.Reset(t.opt.Linger)
				select {
				case <-linger.C:
				case ack = <-t.flushReq:
					linger.Stop()
				}
			}
			if ack != nil {
				for n := len(t.ch); n > 0; n-- {
					it, ok := <-t.ch
					if !ok {
						break
					}
					add(it)
				}
				break
			}
		drain:
			for len(batch) < t.opt.BatchSize {
				select {
				case it, ok := <-t.ch:
					if !ok {
						t.write(batch)
						return
					}
					add(it)
				default:
					break drain
				}
			}
		case ack = <-t.flushReq:
			// Take everything queued before the flush request.
			for n := len(t.ch); n > 0; n-- {
				it, ok := <-t.ch
				if !ok {
					break
				}
				add(it)
			}
		}
		t.write(batch)
		batch = batch[:0]
		if ack != nil {
			close(ack)
		}
	}
}

func (t *Trail) write(batch []Entry) {
	if len(batch) == 0 {
		return
	}
	if t.opt.Log {
		for _, e := range batch {
			t.log.Info("audit", logFields(e)...)
		}
	}
	for off := 0; off < len(batch); off += t.opt.BatchSize {
		end := min(off+t.opt.BatchSize, len(batch))
		t.store1(batch[off:end])
	}
}

func (t *Trail) store1(batch []Entry) {
	deadline := time.Now().Add(t.opt.RetryFor)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := t.store.Append(ctx, batch)
		cancel()
		if err == nil {
			if attempt > 1 {
				t.log.Info("audit store recovered", zap.Int("attempts", attempt))
			}
			return
		}
		if attempt == 1 {
			t.log.Warn("audit store write failed; retrying", zap.Error(err), zap.Int("entries", len(batch)))
		}
		if time.Now().Add(backoff).After(deadline) {
			t.log.Error("audit entries lost: the audit store kept failing", zap.Error(err), zap.Int("entries", len(batch)))
			if t.opt.WriteErrors != nil {
				for range batch {
					t.opt.WriteErrors.Inc()
				}
			}
			return
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// logFields are an entry's log fields: ids, rules and scores, never reason texts or names.
func logFields(e Entry) []zap.Field {
	fs := make([]zap.Field, 0, 16) // room for every field below: one allocation
	fs = append(fs,
		zap.String("kind", string(e.Kind)), zap.String("outcome", e.Outcome), zap.String("table", e.Table),
		zap.String("entry_point", e.EntryPoint), zap.String("user_id", e.UserID),
		zap.String("correlation_id", e.CorrelationID), zap.Time("decided_at", e.Time),
	)
	if e.RecordID != "" {
		fs = append(fs, zap.String("record_id", e.RecordID))
	}
	if e.Message != "" {
		fs = append(fs, zap.String("message", e.Message))
	}
	if e.Fallback != "" {
		fs = append(fs, zap.String("fallback", e.Fallback), zap.String("error", e.Error))
	}
	if e.Overridden {
		fs = append(fs, zap.Bool("overridden", true))
	}
	if e.OverrideError != "" {
		fs = append(fs, zap.String("override_error", e.OverrideError))
	}
	if len(e.Matches) > 0 {
		ids := make([]string, 0, len(e.Matches))
		scores := make([]float64, 0, len(e.Matches))
		for _, m := range e.Matches {
			id := m.ID
			if m.Reserved {
				id = "(reserved)"
			}
			ids = append(ids, m.Entity+"/"+id)
			scores = append(scores, m.Score)
		}
		fs = append(fs, zap.Strings("rules", e.Rules()), zap.Strings("matched", ids), zap.Float64s("scores", scores))
	}
	return fs
}
