package audit

import (
	"slices"
	"sort"
	"time"

	"github.com/dedupegate/dedupegate/rules"
)

// Counts are entries by kind.
type Counts struct {
	Block    int `json:"block"`
	Warn     int `json:"warn"`
	Override int `json:"override"`
	Fallback int `json:"fallback"`
	Audit    int `json:"audit"`
	Action   int `json:"action"`
	// Other counts kinds written by other parts of the gateway (e.g. follow-up outcomes).
	Other int `json:"other"`
	Total int `json:"total"`
}

func (c *Counts) add(k Kind) {
	switch k {
	case KindBlock:
		c.Block++
	case KindWarn:
		c.Warn++
	case KindOverride:
		c.Override++
	case KindFallback:
		c.Fallback++
	case KindAudit:
		c.Audit++
	case KindAction:
		c.Action++
	default:
		c.Other++
	}
	c.Total++
}

// Summary is the trend report of a period of the trail.
type Summary struct {
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	Totals Counts    `json:"totals"`
	// Days has one row per UTC day of the period, empty days included.
	Days []DayCounts `json:"days"`
	// Rules counts entries by the rule that fired (see FiringRules), most first.
	Rules []NamedCounts `json:"rules"`
	// Tables counts entries by checked table, most first.
	Tables []NamedCounts `json:"tables"`
	// EntryPoints counts entries by entry point, most first.
	EntryPoints []NamedCounts `json:"entry_points"`
	// TopOverriders are the users with the most overrides, most first (at most 10).
	TopOverriders []UserCount `json:"top_overriders"`
	// MostDuplicated are the existing records matched most often, most first (at most 10).
	MostDuplicated []RecordCount `json:"most_duplicated"`
}

// DayCounts are one day's entries.
type DayCounts struct {
	Day string `json:"day"` // YYYY-MM-DD, UTC
	Counts
}

// NamedCounts are the entries of one rule, table or entry point.
type NamedCounts struct {
	Name string `json:"name"`
	Counts
}

// UserCount is one user's overrides.
type UserCount struct {
	UserID    string `json:"user_id"`
	Overrides int    `json:"overrides"`
}

// RecordCount is one existing record and how often saves matched it.
type RecordCount struct {
	Entity  string   `json:"entity"`
	ID      string   `json:"id"`
	Matches int      `json:"matches"`
	Rules   []string `json:"rules"`
}

// topN caps TopOverriders and MostDuplicated.
const topN = 10

// FiringRules returns the rules that made the entry what it is: for a block or an override the
// rules whose matches blocked, for a warn those that warned, for audit the audit-mode rules
// that would have fired, for action the notify/merge/review rules. A fallback has none.
func FiringRules(e Entry) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range e.Matches {
		if seen[m.Rule] {
			continue
		}
		var fires bool
		switch e.Kind {
		case KindBlock, KindOverride, KindWarn:
			fires = firing(e, m)
		case KindAudit:
			fires = m.Action == string(rules.ActionAudit)
		case KindAction:
			fires = m.Action == string(rules.ActionNotify) || m.Action == string(rules.ActionMerge) || m.Action == string(rules.ActionReview)
		}
		if fires {
			seen[m.Rule] = true
			out = append(out, m.Rule)
		}
	}
	return out
}

// Summarize computes the trends of entries over [since, until].
func Summarize(entries []Entry, since, until time.Time) Summary {
	s := Summary{Since: since.UTC(), Until: until.UTC()}
	days := map[string]*DayCounts{}
	for d := truncDay(since); !d.After(until); d = d.AddDate(0, 0, 1) {
		k := d.Format(time.DateOnly)
		s.Days = append(s.Days, DayCounts{Day: k})
	}
	for i := range s.Days {
		days[s.Days[i].Day] = &s.Days[i]
	}
	byRule, byTable, byEP := map[string]*Counts{}, map[string]*Counts{}, map[string]*Counts{}
	overrides := map[string]int{}
	type recKey struct{ entity, id string }
	recs := map[recKey]*RecordCount{}
	bump := func(m map[string]*Counts, k string, kind Kind) {
		c := m[k]
		if c == nil {
			c = &Counts{}
			m[k] = c
		}
		c.add(kind)
	}
	for _, e := range entries {
		if e.Time.Before(since) || e.Time.After(until) {
			continue
		}
		s.Totals.add(e.Kind)
		if d := days[e.Time.UTC().Format(time.DateOnly)]; d != nil {
			d.add(e.Kind)
		}
		for _, r := range FiringRules(e) {
			bump(byRule, r, e.Kind)
		}
		bump(byTable, e.Table, e.Kind)
		if e.EntryPoint != "" {
			bump(byEP, e.EntryPoint, e.Kind)
		}
		if e.Kind == KindOverride {
			u := e.UserID
			if u == "" {
				u = e.UserAADID
			}
			overrides[u]++
		}
		if !decisionKind(e.Kind) {
			continue // another part's record of an earlier decision: its matches are counted there
		}
		seen := map[recKey]bool{}
		for _, m := range e.Matches {
			k := recKey{m.Entity, m.ID}
			if m.Reserved || m.ID == "" || seen[k] {
				continue
			}
			seen[k] = true
			rc := recs[k]
			if rc == nil {
				rc = &RecordCount{Entity: m.Entity, ID: m.ID}
				recs[k] = rc
			}
			rc.Matches++
			if !slices.Contains(rc.Rules, m.Rule) {
				rc.Rules = append(rc.Rules, m.Rule)
			}
		}
	}
	s.Rules, s.Tables, s.EntryPoints = sortedCounts(byRule), sortedCounts(byTable), sortedCounts(byEP)
	for u, n := range overrides {
		s.TopOverriders = append(s.TopOverriders, UserCount{UserID: u, Overrides: n})
	}
	sort.Slice(s.TopOverriders, func(a, b int) bool {
		x, y := s.TopOverriders[a], s.TopOverriders[b]
		return x.Overrides > y.Overrides || (x.Overrides == y.Overrides && x.UserID < y.UserID)
	})
	if len(s.TopOverriders) > topN {
		s.TopOverriders = s.TopOverriders[:topN]
	}
	for _, rc := range recs {
		sort.Strings(rc.Rules)
		s.MostDuplicated = append(s.MostDuplicated, *rc)
	}
	sort.Slice(s.MostDuplicated, func(a, b int) bool {
		x, y := s.MostDuplicated[a], s.MostDuplicated[b]
		if x.Matches != y.Matches {
			return x.Matches > y.Matches
		}
		if x.Entity != y.Entity {
			return x.Entity < y.Entity
		}
		return x.ID < y.ID
	})
	if len(s.MostDuplicated) > topN {
		s.MostDuplicated = s.MostDuplicated[:topN]
	}
	return s
}

// decisionKind reports whether entries of kind k record a decision (not a follow-up of one).
func decisionKind(k Kind) bool {
	switch k {
	case KindBlock, KindWarn, KindOverride, KindFallback, KindAudit, KindAction:
		return true
	}
	return false
}

func sortedCounts(m map[string]*Counts) []NamedCounts {
	out := make([]NamedCounts, 0, len(m))
	for k, c := range m {
		out = append(out, NamedCounts{Name: k, Counts: *c})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Total != out[b].Total {
			return out[a].Total > out[b].Total
		}
		return out[a].Name < out[b].Name
	})
	return out
}

func truncDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Series is one line of a chart: entries of one kind for one table and rule, per time bucket.
type Series struct {
	Kind   Kind   `json:"kind"`
	Table  string `json:"table"`
	Rule   string `json:"rule"`
	Counts []int  `json:"counts"`
}

// Timeline buckets entries of the given kinds into [since, until) by step, one series per
// (kind, table, firing rule); an entry with no firing rule (a fallback) is under rule "".
// It returns the buckets' start times and the series, sorted by kind, table and rule.
func Timeline(entries []Entry, since, until time.Time, step time.Duration, kinds ...Kind) ([]time.Time, []Series) {
	if step <= 0 || !until.After(since) {
		return nil, nil
	}
	n := int((until.Sub(since) + step - 1) / step)
	starts := make([]time.Time, n)
	for i := range starts {
		starts[i] = since.Add(time.Duration(i) * step).UTC()
	}
	type key struct {
		kind        Kind
		table, rule string
	}
	series := map[key][]int{}
	for _, e := range entries {
		if len(kinds) > 0 && !slices.Contains(kinds, e.Kind) {
			continue
		}
		if e.Time.Before(since) || !e.Time.Before(until) {
			continue
		}
		i := int(e.Time.Sub(since) / step)
		rs := FiringRules(e)
		if len(rs) == 0 {
			rs = []string{""}
		}
		for _, r := range rs {
			k := key{e.Kind, e.Table, r}
			if series[k] == nil {
				series[k] = make([]int, n)
			}
			series[k][i]++
		}
	}
	out := make([]Series, 0, len(series))
	for k, c := range series {
		out = append(out, Series{Kind: k.kind, Table: k.table, Rule: k.rule, Counts: c})
	}
	sort.Slice(out, func(a, b int) bool {
		x, y := out[a], out[b]
		if x.Kind != y.Kind {
			return x.Kind < y.Kind
		}
		if x.Table != y.Table {
			return x.Table < y.Table
		}
		return x.Rule < y.Rule
	})
	return starts, out
}
