package rules

import (
	"context"
	"fmt"
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
