package accuracy

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Metrics are pairwise counts and ratios. A pair counts once.
type Metrics struct {
	TP, FP, FN int
}

// Precision is TP / (TP + FP); 0 when nothing was reported.
func (m Metrics) Precision() float64 { return ratio(m.TP, m.TP+m.FP) }

// Recall is TP / (TP + FN).
func (m Metrics) Recall() float64 { return ratio(m.TP, m.TP+m.FN) }

// F1 is the harmonic mean of precision and recall.
func (m Metrics) F1() float64 {
	p, r := m.Precision(), m.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Result is the measurement of one dataset.
type Result struct {
	Name string
	// Mode is "prevention" (index one file, check the other) or "within-file" (each row checked
	// against the rows before it).
	Mode      string
	Table     string
	Rows      int // rows checked
	Indexed   int // rows in the index (prevention) or the whole file (within-file)
	TruePairs int
	// Warn counts every reported match (score ≥ warn threshold); Block only those at or above
	// the block threshold.
	Warn, Block Metrics
	// Best is the best F1 over all thresholds, on every scored candidate pair (the figure
	// published for Splink); BestThreshold is the score it cuts at.
	Best          Metrics
	BestThreshold float64
	// Clustered (within-file only) closes the block-level pairs transitively (connected
	// components, as an import scan groups rows) and counts every pair inside a group.
	Clustered *Metrics
	// Prevention replay: rows whose true match was reported at block (warn) level.
	CaughtBlock, CaughtWarn int
	// Negative control (prevention): each checked row's true match removed from the index;
	// rows that still got a block-level (any) match.
	ControlRows, FalseBlocks, FalseWarns int
	// Candidates is the mean number of candidates the index returned per check; KeysPerRecord
	// the mean number of index keys a filed record has.
	Candidates    float64
	KeysPerRecord float64
	Elapsed       time.Duration
	// Examples are up to Options.Explain missed and false pairs, for tuning rules.
	Examples []Example
}

// Example is one pair the rules got wrong.
type Example struct {
	// Kind is "missed: not a candidate", "missed: below block" or "false block".
	Kind           string
	Checked, Other matcher.Record
	Rule           string
	Score          float64
	Reasons        []string
	Fields         []matcher.FieldResult
}

// PreventionRecall is CaughtBlock / Rows.
func (r *Result) PreventionRecall() float64 { return ratio(r.CaughtBlock, r.Rows) }

// PreventionRecallWarn is CaughtWarn / Rows.
func (r *Result) PreventionRecallWarn() float64 { return ratio(r.CaughtWarn, r.Rows) }

// FalseBlockRate is FalseBlocks / ControlRows.
func (r *Result) FalseBlockRate() float64 { return ratio(r.FalseBlocks, r.ControlRows) }

// FalseWarnRate is FalseWarns / ControlRows.
func (r *Result) FalseWarnRate() float64 { return ratio(r.FalseWarns, r.ControlRows) }

// Options configures a run.
type Options struct {
	// Dir is the datasets folder (shared/datasets).
	Dir string
	// Set is the rule set to measure.
	Set *rules.Set
	// Engine is the engine configuration. MaxMatches defaults to 1000 here: the replay
	// collects every scored candidate pair, not only the ten a decision reports.
	Engine rules.EngineConfig
	// Only restricts the run to the named datasets (febrl4, febrl3, fake_1000, chicago).
	Only []string
	// Explain is the number of wrong pairs to keep per dataset as Examples.
	Explain int
	// Progress, when set, is told when each dataset starts.
	Progress func(name string)
}

// Datasets lists the dataset names Run knows, in run order.
var Datasets = []string{"febrl4", "febrl3", "fake_1000", "chicago"}

// Run measures every dataset present in opts.Dir.
func Run(ctx context.Context, opts Options) ([]*Result, error) {
	if err := CheckDir(opts.Dir); err != nil {
		return nil, err
	}
	if opts.Engine.MaxMatches == 0 {
		opts.Engine.MaxMatches = 1000
	}
	want := map[string]bool{}
	for _, n := range opts.Only {
		want[n] = true
	}
	r := &runner{opts: opts, thresholds: map[string]*rules.Rule{}}
	r.replay = replaySet(opts.Set, r.thresholds)
	var out []*Result
	for _, name := range Datasets {
		if len(want) > 0 && !want[name] {
			continue
		}
		if opts.Progress != nil {
			opts.Progress(name)
		}
		var (
			res *Result
			err error
		)
		switch name {
		case "febrl4":
			res, err = r.prevention(ctx)
		case "febrl3":
			res, err = r.within(ctx, name, filepath.Join(opts.Dir, febrl3File), LoadFebrl)
		case "fake_1000":
			res, err = r.within(ctx, name, filepath.Join(opts.Dir, Fake1000File), LoadFake1000)
		case "chicago":
			res, err = r.within(ctx, "chicago_childcare", filepath.Join(opts.Dir, ChicagoFile), LoadChicago)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// replaySet copies the rules with their warn threshold lowered to the smallest positive
// score, so that every scored candidate comes back with its score. Blocking, scoring and the
// block threshold are unchanged; the original rules are kept in orig for their thresholds.
func replaySet(set *rules.Set, orig map[string]*rules.Rule) *rules.Set {
	var rs []*rules.Rule
	for _, r := range set.Rules() {
		orig[r.Name] = r
		c := *r
		c.WarnThreshold = 1e-12
		c.Action = rules.ActionBlock
		c.ActionsByEntry = nil
		rs = append(rs, &c)
	}
	return rules.NewSet(rs)
}

type runner struct {
	opts       Options
	replay     *rules.Set
	thresholds map[string]*rules.Rule
}

// pair is one scored candidate pair.
type pair struct {
	a, b  string // record ids
	score float64
	ok    bool // same true cluster
	block bool // at or above the rule's block threshold
	warn  bool // at or above the rule's warn threshold
}

// check evaluates one record through the engine and returns its scored candidates.
func (r *runner) check(ctx context.Context, eng *rules.Engine, rec matcher.Record, clusterOf map[string]string, cluster string) ([]pair, error) {
	check := rec
	check.ID = "" // a Create: the record is not in the index yet
	d, err := eng.Evaluate(ctx, rules.Request{Record: check, Message: "Create", EntryPoint: rules.EntryAPI})
	if err != nil {
		return nil, err
	}
	out := make([]pair, 0, len(d.Matches))
	for _, m := range d.Matches {
		if m.Reserved {
			continue
		}
		orig := r.thresholds[m.Rule]
		out = append(out, pair{
			a: rec.ID, b: m.ID, score: m.Score, ok: clusterOf[m.ID] == cluster,
			block: m.Score >= orig.BlockThreshold, warn: m.Score >= orig.WarnThreshold,
		})
	}
	return out, nil
}

// countingIndex wraps the memory index to count the candidates it returns.
type countingIndex struct {
	*index.Memory
	lookups, candidates int
	filed, keys         int
}

func (c *countingIndex) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	res, err := c.Memory.Lookup(ctx, q)
	c.lookups++
	c.candidates += len(res.Records)
	return res, err
}

// upsert files rec in the index under the set's keys and counts them.
func upsert(ctx context.Context, idx *countingIndex, set *rules.Set, rec matcher.Record) error {
	keys := set.IndexKeys(rec)
	idx.filed++
	idx.keys += len(keys)
	return idx.Upsert(ctx, rec, keys)
}

// prevention indexes febrl dataset4a, checks every dataset4b row (prevention replay), then
// repeats with each row's true match removed from the index (negative control).
func (r *runner) prevention(ctx context.Context) (*Result, error) {
	start := time.Now()
	a, err := LoadFebrl(filepath.Join(r.opts.Dir, febrl4aFile))
	if err != nil {
		return nil, err
	}
	b, err := LoadFebrl(filepath.Join(r.opts.Dir, febrl4bFile))
	if err != nil {
		return nil, err
	}
	mem := index.NewMemory()
	idx := &countingIndex{Memory: mem}
	eng := rules.NewEngine(r.replay, idx, r.opts.Engine)
	byCluster := map[string]matcher.Record{}
	clusterOf := map[string]string{}
	byID := map[string]matcher.Record{}
	for _, row := range a {
		if err := upsert(ctx, idx, r.opts.Set, row.Record); err != nil {
			return nil, err
		}
		byCluster[row.Cluster] = row.Record
		clusterOf[row.Record.ID] = row.Cluster
		byID[row.Record.ID] = row.Record
	}
	res := &Result{Name: "febrl4", Mode: "prevention", Table: contactTable, Indexed: len(a)}
	for _, row := range b {
		if _, ok := byCluster[row.Cluster]; ok {
			res.TruePairs++
		}
	}
	var all []pair
	for _, row := range b {
		ps, err := r.check(ctx, eng, row.Record, clusterOf, row.Cluster)
		if err != nil {
			return nil, err
		}
		res.Rows++
		all = append(all, ps...)
		foundWarn, foundBlock := false, false
		for _, p := range ps {
			foundBlock = foundBlock || p.ok && p.block
			foundWarn = foundWarn || p.ok && p.warn
		}
		if foundWarn {
			res.CaughtWarn++
		}
		if foundBlock {
			res.CaughtBlock++
		} else if truth, ok := byCluster[row.Cluster]; ok {
			r.explain(res, "missed", row.Record, truth)
		}
	}
	r.metrics(res, all)
	res.Candidates = ratio(idx.candidates, idx.lookups)
	res.KeysPerRecord = ratio(idx.keys, idx.filed)

	// Negative control.
	for _, row := range b {
		truth, ok := byCluster[row.Cluster]
		if ok {
			if err := mem.Delete(ctx, truth.Entity, truth.ID); err != nil {
				return nil, err
			}
		}
		ps, err := r.check(ctx, eng, row.Record, clusterOf, row.Cluster)
		if err != nil {
			return nil, err
		}
		res.ControlRows++
		warned, blocked := false, false
		for _, p := range ps {
			warned = warned || p.warn
			if p.block {
				blocked = true
				r.explain(res, "false block (control)", row.Record, byID[p.b])
			}
		}
		if blocked {
			res.FalseBlocks++
		}
		if warned {
			res.FalseWarns++
		}
		if ok {
			if err := upsert(ctx, idx, r.opts.Set, truth); err != nil {
				return nil, err
			}
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// within replays a file in order: each row is checked against the rows before it, then
// filed. Every scored candidate is a pair.
func (r *runner) within(ctx context.Context, name, path string, load func(string) ([]Row, error)) (*Result, error) {
	start := time.Now()
	rows, err := load(path)
	if err != nil {
		return nil, err
	}
	mem := index.NewMemory()
	idx := &countingIndex{Memory: mem}
	eng := rules.NewEngine(r.replay, idx, r.opts.Engine)
	res := &Result{Name: name, Mode: "within-file", Indexed: len(rows)}
	if len(rows) > 0 {
		res.Table = rows[0].Record.Entity
	}
	sizes := map[string]int{}
	clusterOf := map[string]string{}
	byID := map[string]matcher.Record{}
	for _, row := range rows {
		sizes[row.Cluster]++
		clusterOf[row.Record.ID] = row.Cluster
		byID[row.Record.ID] = row.Record
	}
	for _, n := range sizes {
		res.TruePairs += n * (n - 1) / 2
	}
	var all []pair
	seen := map[string][]matcher.Record{}
	for _, row := range rows {
		ps, err := r.check(ctx, eng, row.Record, clusterOf, row.Cluster)
		if err != nil {
			return nil, err
		}
		res.Rows++
		all = append(all, ps...)
		blocked := map[string]bool{}
		for _, p := range ps {
			if p.block {
				blocked[p.b] = true
				if !p.ok {
					r.explain(res, "false block", row.Record, byID[p.b])
				}
			}
		}
		for _, prev := range seen[row.Cluster] {
			if !blocked[prev.ID] {
				r.explain(res, "missed", row.Record, prev)
			}
		}
		seen[row.Cluster] = append(seen[row.Cluster], row.Record)
		if err := upsert(ctx, idx, r.opts.Set, row.Record); err != nil {
			return nil, err
		}
	}
	r.metrics(res, all)
	res.Clustered = clustered(all, clusterOf, res.TruePairs)
	res.Candidates = ratio(idx.candidates, idx.lookups)
	res.KeysPerRecord = ratio(idx.keys, idx.filed)
	res.Elapsed = time.Since(start)
	return res, nil
}

// metrics fills the block, warn and best-threshold figures from the scored pairs.
func (r *runner) metrics(res *Result, all []pair) {
	for _, p := range all {
		if p.warn {
			count(&res.Warn, p.ok)
		}
		if p.block {
			count(&res.Block, p.ok)
		}
	}
	res.Warn.FN = res.TruePairs - res.Warn.TP
	res.Block.FN = res.TruePairs - res.Block.TP
	sorted := append([]pair(nil), all...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].score > sorted[j].score })
	var m Metrics
	for i, p := range sorted {
		count(&m, p.ok)
		if i+1 < len(sorted) && sorted[i+1].score == p.score {
			continue // cut only between different scores
		}
		m.FN = res.TruePairs - m.TP
		if m.F1() > res.Best.F1() {
			res.Best, res.BestThreshold = m, p.score
		}
	}
}

// clustered closes the block-level pairs transitively and counts the pairs inside groups.
func clustered(all []pair, clusterOf map[string]string, truePairs int) *Metrics {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		p, ok := parent[x]
		if !ok || p == x {
			parent[x] = x
			return x
		}
		root := find(p)
		parent[x] = root
		return root
	}
	for _, p := range all {
		if p.block {
			ra, rb := find(p.a), find(p.b)
			if ra != rb {
				parent[ra] = rb
			}
		}
	}
	groups := map[string][]string{}
	for id := range parent {
		root := find(id)
		groups[root] = append(groups[root], id)
	}
	m := &Metrics{}
	for _, ids := range groups {
		for i := range ids {
			for j := 0; j < i; j++ {
				count(m, clusterOf[ids[i]] == clusterOf[ids[j]])
			}
		}
	}
	m.FN = truePairs - m.TP
	return m
}

func count(m *Metrics, ok bool) {
	if ok {
		m.TP++
	} else {
		m.FP++
	}
}

// Targets are the accuracy goals of issue 3. Febrl figures are judged at the shipped block
// threshold. fake_1000 is judged as Splink's published 0.86 is quoted: the best F1 over all
// thresholds of the scored candidate pairs (blocking included); its block-level figure is
// reported beside it and is lower on purpose: the shipped thresholds are set for CRMs of
// millions of records, where the sparse evidence that identifies a person among 1,000 does not.
var Targets = struct {
	Febrl4Recall, Febrl4FalseBlock, Febrl3F1, Fake1000F1 float64
}{0.995, 0.002, 0.995, 0.90}

// Misses lists the targets a run did not meet (empty: all met). Only datasets present in
// results are judged.
func Misses(results []*Result) []string {
	var out []string
	for _, r := range results {
		switch r.Name {
		case "febrl4":
			if r.PreventionRecall() < Targets.Febrl4Recall {
				out = append(out, fmt.Sprintf("febrl4 prevention recall at block level %.4f < %.3f", r.PreventionRecall(), Targets.Febrl4Recall))
			}
			if r.FalseBlockRate() > Targets.Febrl4FalseBlock {
				out = append(out, fmt.Sprintf("febrl4 false-block rate %.4f > %.3f", r.FalseBlockRate(), Targets.Febrl4FalseBlock))
			}
		case "febrl3":
			if r.Block.F1() < Targets.Febrl3F1 {
				out = append(out, fmt.Sprintf("febrl3 F1 at block level %.4f < %.3f", r.Block.F1(), Targets.Febrl3F1))
			}
		case "fake_1000":
			if r.Best.F1() < Targets.Fake1000F1 {
				out = append(out, fmt.Sprintf("fake_1000 best-threshold F1 %.4f < %.2f", r.Best.F1(), Targets.Fake1000F1))
			}
		}
	}
	sort.Strings(out)
	return out
}

// explain records a wrong pair as an Example, diagnosing whether the other record was a
// candidate at all (shares a blocking key) and how the best rule scored it.
func (r *runner) explain(res *Result, kind string, checked, other matcher.Record) {
	if len(res.Examples) >= r.opts.Explain {
		return
	}
	set := r.opts.Set
	ex := Example{Kind: kind, Checked: checked, Other: other}
	otherKeys := map[string]bool{}
	for _, k := range set.IndexKeys(other) {
		otherKeys[k] = true
	}
	candidate := false
	best := -1.0
	for _, rl := range set.ForEntity(checked.Entity) {
		if rl.CandidateEntity != other.Entity {
			continue
		}
		p := rl.Matcher.Prepare(checked)
		for _, k := range rl.Matcher.BlockingKeys(p) {
			if otherKeys[k] {
				candidate = true
			}
		}
		sc := rl.Matcher.Explain(p, rl.Matcher.PrepareCandidate(other))
		if sc.Score > best {
			best = sc.Score
			ex.Rule, ex.Score, ex.Reasons, ex.Fields = rl.Name, sc.Score, sc.Reasons, sc.Fields
		}
	}
	if kind == "missed" {
		if candidate {
			ex.Kind = "missed: below block"
		} else {
			ex.Kind = "missed: not a candidate"
		}
	}
	res.Examples = append(res.Examples, ex)
}
