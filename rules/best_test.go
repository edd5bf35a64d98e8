package rules

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/matcher"
)

func TestBestPerRecord(t *testing.T) {
	m := func(id string, score float64) Match { return Match{Entity: "contact", ID: id, Score: score} }
	reserved := Match{Reserved: true, Score: 1}
	many := func(n int) []Match { // n records, each twice, the second time better
		var ms []Match
		for i := range n {
			ms = append(ms, m(fmt.Sprint(i), 0.5))
		}
		for i := range n {
			ms = append(ms, m(fmt.Sprint(i), 0.9))
		}
		return ms
	}
	for _, tc := range []struct {
		name string
		in   []Match
		want []Match
	}{
		{"none", nil, nil},
		{"distinct", []Match{m("a", 0.8), m("b", 0.9)}, []Match{m("a", 0.8), m("b", 0.9)}},
		{"the better of two", []Match{m("a", 0.8), m("b", 0.9), m("a", 0.95), m("a", 0.7)}, []Match{m("a", 0.95), m("b", 0.9)}},
		{"reservations kept apart", []Match{reserved, m("a", 0.8), reserved}, []Match{reserved, m("a", 0.8), reserved}},
		{"same id, other table", []Match{m("a", 0.8), {Entity: "lead", ID: "a", Score: 0.9}}, []Match{m("a", 0.8), {Entity: "lead", ID: "a", Score: 0.9}}},
		{"past the linear search", many(40), many(40)[40:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bestPerRecord(append([]Match(nil), tc.in...))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d matches, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				if got[i].Entity != tc.want[i].Entity || got[i].ID != tc.want[i].ID || got[i].Score != tc.want[i].Score || got[i].Reserved != tc.want[i].Reserved {
					t.Fatalf("match %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// deadlineIndex reports whether its lookups came with a deadline.
type deadlineIndex struct {
	inline bool
	saw    *bool
}

func (d deadlineIndex) Lookup(ctx context.Context, _ Lookup) (LookupResult, error) {
	_, *d.saw = ctx.Deadline()
	return LookupResult{}, nil
}
func (d deadlineIndex) Release(context.Context, []string, string) error { return nil }
func (d deadlineIndex) LooksUpInline() bool                             { return d.inline }

// TestInlineLookupsWithoutTimer checks that an index that looks up in memory is called
// without IndexTimeout's timer, and any other with it.
func TestInlineLookupsWithoutTimer(t *testing.T) {
	r, err := matcher.Compile(matcher.RuleSpec{Name: "r", Entity: "contact", Fields: []matcher.FieldSpec{
		{Attr: "emailaddress1", Comparator: "exact", Weight: 1, Blocking: true}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet([]*Rule{{Name: "r", Entity: "contact", CandidateEntity: "contact", Matcher: r, WarnThreshold: 0.5, BlockThreshold: 0.9}})
	for _, inline := range []bool{true, false} {
		var saw bool
		eng := NewEngine(set, deadlineIndex{inline: inline, saw: &saw}, EngineConfig{})
		if _, err := eng.Evaluate(context.Background(), Request{Record: matcher.Record{Entity: "contact",
			Attrs: map[string]string{"emailaddress1": "a@example.com"}}, Message: "Create"}); err != nil {
			t.Fatal(err)
		}
		if saw == inline {
			t.Fatalf("inline %v: lookup had a deadline: %v", inline, saw)
		}
	}
}

// memIndex answers every lookup with the same candidates.
type memIndex struct{ recs []matcher.Record }

func (m memIndex) Lookup(context.Context, Lookup) (LookupResult, error) {
	return LookupResult{Records: m.recs}, nil
}
func (m memIndex) Release(context.Context, []string, string) error { return nil }

// TestRequestPrepared checks that the engine takes a symmetric rule's prepared values from
// Request.Prepared, with the same decision as when it prepares the record itself, and never
// asks for a rule that reads other attributes on the candidate's side.
func TestRequestPrepared(t *testing.T) {
	compile := func(name, entity, cand string) *Rule {
		spec := matcher.RuleSpec{Name: name, Entity: entity, CandidateEntity: cand, Fields: []matcher.FieldSpec{
			{Attr: "emailaddress1", Comparator: "email", Weight: 2, Blocking: true},
			{Attr: "lastname", Comparator: "lastname", Weight: 1, Blocking: true}}}
		m, err := matcher.Compile(spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &Rule{Name: name, Entity: entity, CandidateEntity: cand, Matcher: m, WarnThreshold: 0.5, BlockThreshold: 0.9}
	}
	same, cross := compile("contacts", "contact", "contact"), compile("lead-is-contact", "lead", "contact")
	cand := matcher.Record{Entity: "contact", ID: "c1", Attrs: map[string]string{"emailaddress1": "ann.lee@example.com", "lastname": "Lee"}}
	for _, tc := range []struct {
		rule   *Rule
		entity string
		asked  int
	}{{same, "contact", 1}, {cross, "lead", 0}} {
		rec := matcher.Record{Entity: tc.entity, Attrs: map[string]string{"emailaddress1": "Ann.Lee@example.com", "lastname": "Lee"}}
		eng := NewEngine(NewSet([]*Rule{tc.rule}), memIndex{[]matcher.Record{cand}}, EngineConfig{})
		want, err := eng.Evaluate(context.Background(), Request{Record: rec, Message: "Create"})
		if err != nil {
			t.Fatal(err)
		}
		p, _, _ := tc.rule.Matcher.IndexEntryPrepared(rec, nil)
		asked := 0
		got, err := eng.Evaluate(context.Background(), Request{Record: rec, Message: "Create",
			Prepared: func(r *Rule) *matcher.Prepared { asked++; return p }})
		if err != nil {
			t.Fatal(err)
		}
		if asked != tc.asked {
			t.Fatalf("%s: Prepared asked %d times, want %d", tc.rule.Name, asked, tc.asked)
		}
		if got.Outcome != want.Outcome || len(got.Matches) != len(want.Matches) || len(got.Matches) == 0 || got.Matches[0].Score != want.Matches[0].Score {
			t.Fatalf("%s: with the caller's prepared values %+v, without %+v", tc.rule.Name, got, want)
		}
	}
}

// lookupRecorder records the lookups the engine asks of it.
type lookupRecorder struct{ got []Lookup }

func (l *lookupRecorder) Lookup(_ context.Context, q Lookup) (LookupResult, error) {
	// A copy: the engine reuses an inline lookup's storage once Lookup returns.
	q.Keys, q.MaxBlocks = slices.Clone(q.Keys), slices.Clone(q.MaxBlocks)
	l.got = append(l.got, q)
	return LookupResult{}, nil
}
func (l *lookupRecorder) Release(context.Context, []string, string) error { return nil }

// TestLookupMaxBlocks: the engine's maxima by position (Lookup.MaxBlocks) are each key's,
// where two rules read one key with different maxima (the larger wins; none beats any) and
// where only one rule has the key, for remote and inline indexes (pooled storage reused).
func TestLookupMaxBlocks(t *testing.T) {
	compile := func(name string, keys ...matcher.KeySpec) *Rule {
		spec := matcher.RuleSpec{Name: name, Entity: "contact", Fields: []matcher.FieldSpec{
			{Attr: "lastname", Comparator: "lastname"}, {Attr: "firstname", Comparator: "firstname"},
			{Attr: "birthdate", Comparator: "date"}}, Keys: keys}
		m, err := matcher.Compile(spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		return &Rule{Name: name, Entity: "contact", CandidateEntity: "contact", Matcher: m, WarnThreshold: 0.5, BlockThreshold: 0.9}
	}
	last := []matcher.KeyPart{{Attr: "lastname"}}
	first := []matcher.KeyPart{{Attr: "firstname"}}
	born := []matcher.KeyPart{{Attr: "birthdate"}}
	a := compile("a", matcher.KeySpec{Name: "l", Parts: last, MaxBlock: 5}, matcher.KeySpec{Name: "f", Parts: first, MaxBlock: 8},
		matcher.KeySpec{Name: "b", Parts: born, MaxBlock: 3})
	b := compile("b", matcher.KeySpec{Name: "l", Parts: last}, matcher.KeySpec{Name: "f", Parts: first, MaxBlock: 12})
	rec := matcher.Record{Entity: "contact", Attrs: map[string]string{"lastname": "Lee", "firstname": "Ann", "birthdate": "1980-01-02"}}
	want := map[string]int{"l": 0, "f": 12, "b": 3} // by key name
	for _, inline := range []bool{false, true} {
		rec2 := &lookupRecorder{}
		var idx Index = rec2
		if inline {
			idx = inlineRecorder{rec2}
		}
		eng := NewEngine(NewSet([]*Rule{a, b}), idx, EngineConfig{})
		for range 2 { // the second decision reuses the pooled storage
			if _, err := eng.Evaluate(context.Background(), Request{Record: rec, Message: "Create"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range rec2.got {
			if len(q.MaxBlocks) != len(q.Keys) || len(q.Keys) != 3 {
				t.Fatalf("inline %v: keys %q, maxima %v", inline, q.Keys, q.MaxBlocks)
			}
			for i, k := range q.Keys {
				name := k[strings.Index(k, "|")+1:]
				name = name[:strings.Index(name, "|")]
				if q.MaxAt(i) != want[name] {
					t.Fatalf("inline %v: key %q: MaxAt %d, want %d", inline, k, q.MaxAt(i), want[name])
				}
			}
		}
	}
}

// inlineRecorder is a lookupRecorder that looks up inline (as an in-process index does).
type inlineRecorder struct{ *lookupRecorder }

func (inlineRecorder) LooksUpInline() bool { return true }
