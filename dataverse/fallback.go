package dataverse

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Fallback finds candidates over OData when the index cannot answer: one query per decision
// (per candidate table, when a table's rules search several tables, run concurrently) built
// from the record's blocking attributes. It implements rules.FallbackSource.
//
// The filter is exact: each Strong field (an exact identifier such as an e-mail or phone) is
// one "attr eq 'value'" alternative, and the record's other Blocking fields together make one
// more alternative ANDed, e.g.
//
//	emailaddress1 eq 'a@b.com' or telephone1 eq '0123' or (lastname eq 'Smith' and firstname eq 'Bob')
//
// Dataverse compares strings case-insensitively, so case differences still match; spelling
// and format differences (Smyth, +44 vs 0) do not, which is why this is only the fallback.
// Blocking attributes must be text or lookup columns (a lookup is filtered as _name_value).
type Fallback struct {
	Client *Client
	// Top caps the rows each query returns. Defaults to 50.
	Top int
	// Rules, when set, returns the current rule set: $select is then set.IndexedAttrs(table),
	// the columns the index caches. Otherwise the columns of the rules passed in are selected.
	Rules func() *rules.Set
}

var _ rules.FallbackSource = (*Fallback)(nil)

// Candidates implements rules.FallbackSource.
func (f *Fallback) Candidates(ctx context.Context, rs []*rules.Rule, rec matcher.Record) ([]matcher.Record, error) {
	byTable := map[string][]*rules.Rule{}
	for _, r := range rs {
		byTable[r.CandidateEntity] = append(byTable[r.CandidateEntity], r)
	}
	tables := make([]string, 0, len(byTable))
	for t := range byTable {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	results := make([][]matcher.Record, len(tables))
	g, gctx := errgroup.WithContext(ctx)
	for i, table := range tables {
		g.Go(func() error {
			recs, err := f.query(gctx, table, byTable[table], rec)
			if err != nil {
				return fmt.Errorf("fallback query on %s: %w", table, err)
			}
			results[i] = recs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []matcher.Record
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// FallbackFilter builds the $filter for one candidate table from rec's blocking attributes,
// using column names as the Web API wants them (lookups as _name_value). It returns "" when
// rec has no value for any blocking attribute.
func FallbackFilter(rs []*rules.Rule, rec matcher.Record, lookups map[string]bool) (string, error) {
	var alts []string
	seen := map[string]bool{}
	add := func(c string) {
		if c != "" && !seen[c] {
			seen[c] = true
			alts = append(alts, c)
		}
	}
	for _, r := range rs {
		var group []string
		for _, fs := range r.Matcher.Spec().Fields {
			if !fs.Blocking && !fs.Strong {
				continue
			}
			v := strings.TrimSpace(rec.Attrs[fs.Attr])
			if v == "" {
				continue
			}
			cand := fs.CandidateAttr
			if cand == "" {
				cand = fs.Attr
			}
			if !ValidAttr(cand) || strings.Contains(cand, "/") {
				return "", fmt.Errorf("%q is not a column name", cand)
			}
			var clause string
			if lookups[cand] {
				if !IsGUID(v) {
					continue
				}
				clause = Eq("_"+cand+"_value", GUID(strings.ToLower(v)))
			} else {
				clause = Eq(cand, v)
			}
			if fs.Strong {
				add(clause)
			} else {
				group = append(group, clause)
			}
		}
		add(And(group...))
	}
	return Or(alts...), nil
}

func (f *Fallback) query(ctx context.Context, table string, rs []*rules.Rule, rec matcher.Record) ([]matcher.Record, error) {
	t, err := f.Client.Table(ctx, table)
	if err != nil {
		return nil, err
	}
	lookups := f.Client.Lookups(ctx, table)
	filter, err := FallbackFilter(rs, rec, lookups)
	if err != nil || filter == "" {
		return nil, err
	}
	if rec.ID != "" && rec.Entity == table && IsGUID(rec.ID) {
		// The record itself (an Update) is not its own duplicate; do not let it take a slot.
		filter = And(filter, Ne(t.PrimaryID, GUID(strings.ToLower(rec.ID))))
	}
	var attrs []string
	if f.Rules != nil {
		if set := f.Rules(); set != nil {
			attrs = set.IndexedAttrs(table)
		}
	}
	if attrs == nil {
		attrs = rules.CandidateAttrs(rs)
	}
	sel, err := f.Client.SelectNames(ctx, table, append([]string{t.PrimaryID}, attrs...))
	if err != nil {
		return nil, err
	}
	top := f.Top
	if top <= 0 {
		top = 50
	}
	var out []matcher.Record
	err = f.Client.List(ctx, table, Query{Select: sel, Filter: filter, Top: top}, func(rows []map[string]any) error {
		for _, r := range rows {
			if c := rowRecord(t, r, attrs); c.ID != "" {
				out = append(out, c)
			}
		}
		return nil
	})
	return out, err
}
