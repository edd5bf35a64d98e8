package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Config says what to scan and how.
type Config struct {
	// Entity is the table the file's rows would be created in, e.g. contact.
	Entity string
	// Rules are the webhook's rules; rows are checked with the rules for Entity.
	Rules *rules.Set
	// CRM is the index of existing records: the live index, or an exported file loaded with
	// LoadAgainst. Nil checks the file against itself only.
	CRM rules.Index
	// Fallback finds CRM candidates without the index (Dataverse queries): used for every row
	// when CRM is nil, and for the rows whose CRM lookup fails. Optional.
	Fallback rules.FallbackSource
	// EngineOptions pass on to rules.NewEngine (e.g. rules.WithExceptions). A fallback given
	// here would lose the in-file candidates of the rows it answers: use Fallback.
	EngineOptions []rules.Option
	// Engine tunes the engine as for the webhook. Scan turns reservations off (nothing is
	// being saved) and defaults MaxMatches to 100, so that every match at or above the warn
	// threshold is listed. Engine.Deadline bounds the check of one row (default
	// DefaultRowDeadline) and Engine.IndexTimeout its CRM lookup (default a third of it).
	Engine rules.EngineConfig
	// EntryPoint selects the rules' per-entry-point actions. Defaults to rules.EntryImport.
	EntryPoint string
	// Input describes the file.
	Input Input
	// Workers is how many rows are checked at once. Defaults to GOMAXPROCS; raise it for a
	// network index (Redis), whose lookups wait on round trips.
	Workers int
	// BatchSize is how many rows travel through the pipeline together. Defaults to
	// DefaultBatchSize.
	BatchSize int
}

// Input describes an input file.
type Input struct {
	// Name names the file in messages.
	Name string
	// Format is InputCSV (default) or InputJSONL.
	Format InputFormat
	// Mapping maps source columns to attributes; unmapped columns are read under their own
	// (lower-cased) name.
	Mapping Mapping
	// IDColumn names the column that identifies a row in the output; empty: the row number.
	IDColumn string
}

// Outputs are where Scan writes.
type Outputs struct {
	// Results receives one result per input row, in file order. Required.
	Results ResultWriter
	// Clean receives the allowed rows exactly as they are in the input (with its BOM and header
	// line): the file to import. Optional.
	Clean io.Writer
	// Report receives every other row (warned, blocked, not checked) with its matches, for
	// review. Optional.
	Report io.Writer
	// Progress is called now and then with the input bytes done. Optional.
	Progress func(offset int64)
	// Notes receives remarks about the input, such as attributes the rules read that no column
	// feeds. Optional.
	Notes io.Writer
}

// DefaultRowDeadline bounds the check of one row when Config.Engine.Deadline is zero: far
// longer than the webhook's, since nobody waits on a save, and long enough for a Dataverse
// fallback query.
const DefaultRowDeadline = 30 * time.Second

// Result is the verdict on one input row.
type Result struct {
	Row      int     `json:"row"`
	ID       string  `json:"id"`
	Decision string  `json:"decision"`
	Matches  []Match `json:"matches"`
	Line     int     `json:"line"`
	Error    string  `json:"error,omitempty"`

	undecided bool // Error says why the engine could not check the row (not bad input)
}

// Match is a record the row matched.
type Match struct {
	// ID is the matched record's id: a CRM id, or the id (else row number) of an earlier row
	// of the file.
	ID string `json:"id"`
	// Source is "crm" or "file".
	Source string `json:"source"`
	// Row is the row number of an in-file match.
	Row   int     `json:"row,omitempty"`
	Score float64 `json:"score"`
	Rule  string  `json:"rule"`
	// Level is block (the score reaches the rule's block threshold) or warn.
	Level string `json:"level"`
	// Action is the rule's action at the entry point (block, warn, review, ...).
	Action  string   `json:"action"`
	Reasons []string `json:"reasons"`
}

// Decisions, as in rules.Outcome, plus DecisionError for a row that was not checked (bad
// input, or the engine could not decide).
const (
	DecisionAllow = string(rules.OutcomeAllow)
	DecisionWarn  = string(rules.OutcomeWarn)
	DecisionBlock = string(rules.OutcomeBlock)
	DecisionError = "error"
)

// Sources of a match.
const (
	SourceCRM  = "crm"
	SourceFile = "file"
)

// Summary counts what a scan found.
type Summary struct {
	Rows    int `json:"rows"`
	Blocked int `json:"blocked"`
	Warned  int `json:"warned"`
	Allowed int `json:"allowed"`
	// Errors are rows not checked because they are malformed (ragged, bad encoding, bad JSON).
	Errors int `json:"errors"`
	// Undecided are rows the engine could not check (index unavailable, interrupted).
	Undecided int `json:"undecided"`
	// MatchedCRM and MatchedFile count rows with at least one match of that source.
	MatchedCRM  int `json:"matched_crm"`
	MatchedFile int `json:"matched_file"`
	// Clusters are groups of rows of the file linked by in-file matches; ClusterRows the rows
	// in them.
	Clusters    int           `json:"clusters"`
	ClusterRows int           `json:"cluster_rows"`
	Elapsed     time.Duration `json:"-"`
}

// String renders the summary on one line.
func (s Summary) String() string {
	line := fmt.Sprintf("%d rows: %d blocked, %d warned, %d allowed", s.Rows, s.Blocked, s.Warned, s.Allowed)
	if s.Errors > 0 {
		line += fmt.Sprintf(", %d malformed", s.Errors)
	}
	if s.Undecided > 0 {
		line += fmt.Sprintf(", %d not checked", s.Undecided)
	}
	line += fmt.Sprintf("; %d match the CRM, %d match earlier rows; %d in-file duplicate cluster(s) of %d rows",
		s.MatchedCRM, s.MatchedFile, s.Clusters, s.ClusterRows)
	return line
}

// Rate renders the elapsed time and rows per second.
func (s Summary) Rate() string {
	secs := s.Elapsed.Seconds()
	if secs <= 0 {
		return ""
	}
	return fmt.Sprintf("%d rows in %.2fs (%.0f rows/s)", s.Rows, secs, float64(s.Rows)/secs)
}

// RulesFor returns the rules a scan of entity rows uses against records of table candidate:
// those that check entity and search candidate. The scan's indexes file records under these
// alone (the file's own rows with RulesFor(set, entity, entity), an export loaded with
// LoadAgainst with RulesFor(set, entity, its table)): keys and forms for the other rules that
// search the same table would never be read in this scan.
func RulesFor(set *rules.Set, entity, candidate string) *rules.Set {
	var rs []*rules.Rule
	for _, r := range set.ForEntity(entity) {
		if r.CandidateEntity == candidate {
			rs = append(rs, r)
		}
	}
	return rules.NewSet(rs)
}

// AttrsRead returns the attributes the rules for entity read from a checked record and from a
// candidate of the same table: the columns worth mapping.
func AttrsRead(set *rules.Set, entity string) []string {
	seen := map[string]bool{}
	for _, a := range set.WatchedAttrs(entity) {
		seen[a] = true
	}
	for _, a := range set.IndexedAttrs(entity) {
		seen[a] = true
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// DefaultBatchSize is how many rows travel through the pipeline together by default. A batch
// is filed in the in-file index under one write lock, while checks of earlier batches wait
// for it: fewer, larger batches keep both cores busier. BenchmarkScan1M (1M rows against 1M
// records, SCAN_BENCH_BATCH, interleaved, 2026-11-27 14:13Z–14:18Z): 256 gave 41,621 / 41,770
// rows/s (1.86 cores busy), 1,024 gave 45,534 / 46,487 (1.94), 4,096 no more than 1,024 for
// 0.25 GiB more.
const DefaultBatchSize = 1024

// batch is a run of consecutive rows moving through the pipeline.
type batch struct {
	rows    []*row
	entries []index.Entry // how each good row is filed in the in-file index
	results []Result
	keyed   chan struct{} // entries computed
	scored  chan struct{} // results computed
}

// Scan checks every row of in, in order, against the CRM and the rows before it, and writes
// one result per row. It returns an *InputError when the file cannot be read as a table at all
// (empty, unknown mapped column); malformed rows are reported as results and counted in
// Summary.Errors. The pipeline: one reader; parallel workers computing each row's index keys;
// one inserter filing rows in the in-file index in file order; parallel workers checking rows;
// one writer emitting results in file order. A row is filed before any later row is checked,
// and its own check sees only the rows before it, so the outcome is that of a sequential
// replay whatever the number of workers.
func Scan(ctx context.Context, cfg Config, in io.Reader, out Outputs) (Summary, error) {
	start := time.Now()
	if cfg.Rules == nil || len(cfg.Rules.ForEntity(cfg.Entity)) == 0 {
		return Summary{}, fmt.Errorf("no rule checks table %q", cfg.Entity)
	}
	if out.Results == nil {
		return Summary{}, errors.New("scan: no results writer")
	}
	wanted := AttrsRead(cfg.Rules, cfg.Entity)
	format := cfg.Input.Format
	if format == "" {
		format = InputCSV
	}
	src, err := openSource(in, sourceOptions{
		name: cfg.Input.Name, format: format, mapping: cfg.Input.Mapping, idColumn: cfg.Input.IDColumn,
		wanted: wanted, ruleDesc: "the " + cfg.Entity + " rules", keepRaw: out.Clean != nil || out.Report != nil,
	})
	if err != nil {
		return Summary{}, err
	}
	if miss := src.layout().missing(wanted); len(miss) > 0 && len(src.layout().cols) > 0 && out.Notes != nil {
		fmt.Fprintf(out.Notes, "%s: no column feeds %s (read by the %s rules); rows are compared on the other attributes\n",
			cfg.Input.Name, strings.Join(miss, ", "), cfg.Entity)
	}

	w, err := newRowWriter(src, out)
	if err != nil {
		return Summary{}, err
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	size := cfg.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	ecfg := cfg.Engine
	ecfg.Reservations = false
	if ecfg.Deadline <= 0 {
		ecfg.Deadline = DefaultRowDeadline
	}
	if ecfg.MaxMatches <= 0 {
		ecfg.MaxMatches = 100
	}
	file := newFileIndex()
	idx := &sources{crm: cfg.CRM, fallback: cfg.Fallback, rules: cfg.Rules.ForEntity(cfg.Entity), file: file, entity: cfg.Entity}
	fileRules := RulesFor(cfg.Rules, cfg.Entity, cfg.Entity) // the rules that can match a row with an earlier one
	eng := rules.NewEngine(cfg.Rules, idx, ecfg, cfg.EngineOptions...)
	// A row's check is bounded only when the CRM is reached over the network: in memory it
	// cannot hang, and a timer per row is a cost worth saving.
	var deadline time.Duration
	if _, inProcess := cfg.CRM.(*index.Memory); (cfg.CRM != nil && !inProcess) || cfg.Fallback != nil {
		deadline = eng.Config().Deadline
	}
	entry := cfg.EntryPoint
	if entry == "" {
		entry = rules.EntryImport
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keyQ := make(chan *batch, 2*workers)
	scoreQ := make(chan *batch, 2*workers)
	insertOrder := make(chan *batch, 4*workers)
	writeOrder := make(chan *batch, 4*workers)

	// Reader.
	readErr := make(chan error, 1)
	go func() {
		defer close(keyQ)
		defer close(insertOrder)
		defer close(writeOrder)
		b := newBatch(size)
		send := func() {
			insertOrder <- b
			writeOrder <- b
			keyQ <- b
			b = newBatch(size)
		}
		for ctx.Err() == nil {
			r, err := src.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				readErr <- err
				break
			}
			b.rows = append(b.rows, r)
			if len(b.rows) == size {
				send()
			}
		}
		if len(b.rows) > 0 {
			send()
		}
		close(readErr)
	}()

	// Keyers: how each row is filed, computed in parallel.
	for range workers {
		go func() {
			for b := range keyQ {
				b.entries = make([]index.Entry, len(b.rows))
				for i, r := range b.rows {
					if r.err == "" {
						b.entries[i] = index.PrepareEach(fileRules, matcher.Record{Entity: cfg.Entity, ID: fileID(r.num), Attrs: r.attrs},
							func(rule *rules.Rule, p *matcher.Prepared) { r.prepared = append(r.prepared, rulePrepared{rule, p}) })
						// Its check decodes these values instead of preparing the row again.
						r.form = b.entries[i].Record.Form
					}
				}
				close(b.keyed)
			}
		}()
	}
	// Inserter: files batches in file order, then lets them be checked.
	go func() {
		defer close(scoreQ)
		for b := range insertOrder {
			<-b.keyed
			file.add(b.rows, b.entries)
			b.entries = nil
			scoreQ <- b
		}
	}()
	// Checkers.
	for range workers {
		go func() {
			for b := range scoreQ {
				b.results = make([]Result, len(b.rows))
				for i, r := range b.rows {
					b.results[i] = check(ctx, eng, file, cfg.Entity, entry, deadline, r)
				}
				close(b.scored)
			}
		}()
	}

	// Writer: here, in file order.
	var werr error
	for b := range writeOrder {
		<-b.scored
		if werr != nil {
			continue // keep draining so that the pipeline ends
		}
		for i, r := range b.rows {
			if err := w.write(r, &b.results[i]); err != nil {
				werr = err
				cancel()
				break
			}
		}
		if out.Progress != nil && len(b.rows) > 0 {
			out.Progress(b.rows[len(b.rows)-1].end)
		}
	}
	sum := w.summary()
	sum.Elapsed = time.Since(start)
	if err := <-readErr; err != nil {
		return sum, err
	}
	if werr != nil {
		return sum, werr
	}
	if err := w.close(sum); err != nil {
		return sum, err
	}
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("scan interrupted after %d rows: %w", sum.Rows, err)
	}
	return sum, nil
}

func newBatch(size int) *batch {
	return &batch{rows: make([]*row, 0, size), keyed: make(chan struct{}), scored: make(chan struct{})}
}

// rulePrepared is a row's values prepared by one rule when the row was filed.
type rulePrepared struct {
	rule *rules.Rule
	p    *matcher.Prepared
}

// check decides one row.
func check(ctx context.Context, eng *rules.Engine, file *fileIndex, entity, entry string, deadline time.Duration, r *row) Result {
	res := Result{Row: r.num, Line: r.line, ID: displayID(r), Matches: []Match{}}
	if r.err != "" {
		res.Decision, res.Error = DecisionError, r.err
		return res
	}
	rctx := withRow(ctx, r.num, matcher.Record{Entity: entity, ID: r.id, Attrs: r.attrs})
	rec := matcher.Record{Entity: entity, ID: r.id, Attrs: r.attrs, Form: r.form}
	if deadline > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(rctx, deadline)
		defer cancel()
	}
	req := rules.Request{Record: rec, Message: "Create", EntryPoint: entry}
	if len(r.prepared) > 0 {
		req.Prepared = func(rule *rules.Rule) *matcher.Prepared {
			for _, rp := range r.prepared {
				if rp.rule == rule {
					return rp.p
				}
			}
			return nil
		}
	}
	d, err := eng.Evaluate(rctx, req)
	for _, rp := range r.prepared {
		rp.rule.Matcher.Recycle(rp.p) // the row is checked: its values are read no more
	}
	r.prepared = nil
	if err != nil {
		res.Decision, res.undecided = DecisionError, true
		res.Error = fmt.Sprintf("line %d: not checked: %v", r.line, err)
		return res
	}
	outcome := rules.OutcomeAllow
	for _, m := range d.Matches {
		if m.Reserved {
			continue // the scan reserves nothing; a CRM index cannot report a conflict
		}
		outcome = rules.MaxOutcome(outcome, rowOutcome(m))
		mm := Match{ID: m.ID, Source: SourceCRM, Score: m.Score, Rule: m.Rule, Level: string(m.Level),
			Action: string(m.Action), Reasons: m.Reasons}
		if n := fileRow(m.ID); n > 0 {
			mm.Source, mm.Row, mm.ID = SourceFile, n, file.id(n)
		}
		if mm.Reasons == nil {
			mm.Reasons = []string{}
		}
		res.Matches = append(res.Matches, mm)
	}
	res.Decision = string(outcome)
	return res
}

// rowOutcome is what a match makes of an imported row. A rule's action at the entry point
// decides, as in the webhook, except that the actions which let a save through but act on it
// afterwards (review, merge, notify) flag the row like a block: the point of the pre-check is
// to keep those rows out of the clean file. Audit (a dry run) flags nothing; warn warns.
func rowOutcome(m rules.Match) rules.Outcome {
	switch m.Action {
	case rules.ActionAudit:
		return rules.OutcomeAllow
	case rules.ActionWarn:
		return rules.OutcomeWarn
	}
	return m.Level
}
