// Package indexsync loads tables from the system of record (Dataverse) into the candidate
// index and keeps them fresh: a full load pages through a whole table, an incremental load
// reads the rows modified since the table's watermark (the latest modifiedon loaded, stored in
// the index itself), and Run repeats the incremental load for serve, healing any change whose
// PostOperation event was missed.
package indexsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Source reads rows of a table with paging. *dataverse.Client satisfies it.
type Source interface {
	// Rows calls page with successive pages of table's rows, each carrying its id and attrs
	// (those set). A zero modifiedSince reads every row; otherwise only rows modified after
	// it. Rows asked to carry "modifiedon" return it as an RFC 3339 time.
	Rows(ctx context.Context, table string, attrs []string, modifiedSince time.Time, page func([]matcher.Record) error) error
}

// Counter is implemented by sources that can count rows ahead of a load, for a progress bar
// with a total.
type Counter interface {
	Count(ctx context.Context, table string, modifiedSince time.Time) (int, error)
}

// Index is what a sync writes to: records and the watermarks. A BatchWriter is used when the
// index is one; an Enumerator lets a full load remove records deleted without an event.
type Index interface {
	index.Writer
	index.Watermarks
}

// Progress reports a load as it goes.
type Progress struct {
	Table string
	Full  bool
	// Done counts the rows read so far; Total is the expected count, -1 when unknown.
	Done, Total int
	Elapsed     time.Duration
}

// Result is what one table's load did.
type Result struct {
	Table string
	Full  bool
	// Rows counts the rows read and filed; Removed the records dropped from the index because
	// the full load did not find them any more.
	Rows, Removed int
	// Since is the modifiedon the load started from (zero for a full load); Watermark the one
	// stored after it.
	Since, Watermark time.Time
	Took             time.Duration
}

// Rate is rows per second.
func (r Result) Rate() float64 {
	if r.Took <= 0 {
		return 0
	}
	return float64(r.Rows) / r.Took.Seconds()
}

// Syncer loads tables into an index. It runs one load at a time; it is safe for concurrent
// use.
type Syncer struct {
	src      Source
	idx      Index
	rules    func() *rules.Set
	log      *zap.Logger
	overlap  time.Duration
	progress func(Progress)
	mu       sync.Mutex
}

// Option configures a Syncer.
type Option func(*Syncer)

// WithLogger sets the logger (default: none).
func WithLogger(l *zap.Logger) Option { return func(s *Syncer) { s.log = l } }

// WithProgress sets a callback called after every page.
func WithProgress(f func(Progress)) Option { return func(s *Syncer) { s.progress = f } }

// WithOverlap sets how far before the watermark an incremental load starts. Default
// DefaultOverlap.
func WithOverlap(d time.Duration) Option { return func(s *Syncer) { s.overlap = d } }

// DefaultOverlap re-reads the last 5 minutes before the watermark on every incremental load,
// so that a row saved by an operation still running when the previous load read its page
// (Dataverse operations may take up to 2 minutes; whether modifiedon is stamped at the start
// or the end of an operation is UNCONFIRMED) is not skipped. Filing a row twice is harmless.
const DefaultOverlap = 5 * time.Minute

// New returns a Syncer from src into idx, filing rows under the rule set current at each load.
func New(src Source, idx Index, currentRules func() *rules.Set, opts ...Option) *Syncer {
	s := &Syncer{src: src, idx: idx, rules: currentRules, log: zap.NewNop(), overlap: DefaultOverlap}
	for _, o := range opts {
		o(s)
	}
	return s
}

// errWriterFailed stops the source when filing a page failed (the filing error is returned).
var errWriterFailed = errors.New("indexsync: filing failed")

// ErrNoRules is returned when no rule searches the table asked for.
var ErrNoRules = errors.New("indexsync: no rule searches this table")

// Sync loads one table: every row when full is set or the table was never loaded, else the
// rows modified since its watermark (less the overlap). The watermark advances only when the
// whole load succeeded, so an interrupted load is simply done again.
func (s *Syncer) Sync(ctx context.Context, table string, full bool) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	set := s.rules()
	attrs := set.IndexedAttrs(table)
	if len(attrs) == 0 {
		return Result{Table: table}, fmt.Errorf("%w: %s", ErrNoRules, table)
	}
	mark, err := s.idx.Watermark(ctx, table)
	if err != nil {
		return Result{Table: table}, fmt.Errorf("indexsync: %s: read watermark: %w", table, err)
	}
	res := Result{Table: table, Full: full || mark.IsZero()}
	if !res.Full {
		res.Since = mark.Add(-s.overlap)
	}

	// A full load removes what it no longer finds: the ids filed before it started (records
	// filed during the load are not among them, so they stay).
	var before map[string]struct{}
	enum, canSweep := s.idx.(index.Enumerator)
	if res.Full && canSweep {
		before = map[string]struct{}{}
		if err := enum.IDs(ctx, table, func(ids []string) error {
			for _, id := range ids {
				before[id] = struct{}{}
			}
			return nil
		}); err != nil {
			return res, fmt.Errorf("indexsync: %s: list filed records: %w", table, err)
		}
	}

	total := -1
	if c, ok := s.src.(Counter); ok {
		if n, err := c.Count(ctx, table, res.Since); err == nil {
			total = n
		}
	}
	latest := mark
	read := append(append([]string(nil), attrs...), "modifiedon")
	// Pages are filed by a writer goroutine while the source fetches the next one, so that
	// reading Dataverse and writing the index overlap; at most one page waits.
	pages := make(chan []matcher.Record, 1)
	written := make(chan error, 1)
	var failed atomic.Bool
	go func() {
		var werr error
		for rows := range pages {
			if werr != nil {
				continue // drain after a failure
			}
			if werr = index.FileBatch(ctx, s.idx, set, rows); werr != nil {
				failed.Store(true)
				continue
			}
			res.Rows += len(rows)
			if s.progress != nil {
				s.progress(Progress{Table: table, Full: res.Full, Done: res.Rows, Total: total, Elapsed: time.Since(start)})
			}
		}
		written <- werr
	}()
	err = s.src.Rows(ctx, table, read, res.Since, func(rows []matcher.Record) error {
		if failed.Load() {
			return errWriterFailed
		}
		page := make([]matcher.Record, len(rows))
		copy(page, rows)
		for i := range page {
			if page[i].Entity == "" {
				page[i].Entity = table
			}
			if t, err := time.Parse(time.RFC3339Nano, page[i].Attrs["modifiedon"]); err == nil && t.After(latest) {
				latest = t
			}
			delete(before, page[i].ID)
		}
		select {
		case pages <- page:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(pages)
	werr := <-written
	if err == nil || errors.Is(err, errWriterFailed) {
		err = werr
	}
	if err != nil {
		res.Took = time.Since(start)
		return res, fmt.Errorf("indexsync: %s: %w", table, err)
	}
	for id := range before {
		if err := s.idx.Delete(ctx, table, id); err != nil {
			return res, fmt.Errorf("indexsync: %s: remove a deleted record: %w", table, err)
		}
		res.Removed++
	}
	if latest.After(mark) {
		if err := s.idx.SetWatermark(ctx, table, latest); err != nil {
			return res, fmt.Errorf("indexsync: %s: store watermark: %w", table, err)
		}
	}
	res.Watermark = latest
	res.Took = time.Since(start)
	s.log.Info("index sync", zap.String("table", table), zap.Bool("full", res.Full), zap.Int("rows", res.Rows),
		zap.Int("removed", res.Removed), zap.Duration("took", res.Took), zap.Time("watermark", res.Watermark))
	return res, nil
}

// SyncAll loads every table the current rules search (their candidate tables), or tables
// when given. It goes on after a table fails and returns the errors joined.
func (s *Syncer) SyncAll(ctx context.Context, full bool, tables ...string) ([]Result, error) {
	if len(tables) == 0 {
		tables = s.rules().CandidateTables()
	}
	var out []Result
	var errs []error
	for _, t := range tables {
		res, err := s.Sync(ctx, t, full)
		out = append(out, res)
		if err != nil {
			if ctx.Err() != nil {
				return out, err
			}
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Run loads every candidate table incrementally now and then every interval until ctx ends
// (serve's background upkeep). Failures are logged and retried at the next tick.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SyncAll(ctx, false); err != nil && ctx.Err() == nil {
			s.log.Warn("incremental index sync failed; retrying at the next interval", zap.Error(err), zap.Duration("interval", interval))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
