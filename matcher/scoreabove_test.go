package matcher_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/synth"
)

// blockPairs returns checked records and candidates as a lookup pairs them: re-entries with
// their original, people with others of the same surname (the name blocks' unrelated
// candidates, most of what a check scores), and people with random others; some with the
// names swapped or fields dropped.
func blockPairs(n int) [][2]matcher.Record {
	pop := synth.People{Seed: 21}
	rng := rand.New(rand.NewPCG(5, 6))
	people := make([]matcher.Record, 3000)
	byLast := map[string][]int{}
	for i := range people {
		people[i] = pop.Person(i)
		byLast[people[i].Attrs["lastname"]] = append(byLast[people[i].Attrs["lastname"]], i)
	}
	var out [][2]matcher.Record
	for len(out) < n {
		i := rng.IntN(len(people))
		probe := people[i]
		var cand matcher.Record
		switch rng.IntN(4) {
		case 0:
			probe = pop.Duplicate(i, rng.Uint64())
			cand = people[i]
		case 1, 2:
			same := byLast[probe.Attrs["lastname"]]
			cand = people[same[rng.IntN(len(same))]]
		default:
			cand = people[rng.IntN(len(people))]
		}
		if rng.IntN(8) == 0 {
			a := map[string]string{}
			for k, v := range probe.Attrs {
				a[k] = v
			}
			a["firstname"], a["lastname"] = a["lastname"], a["firstname"]
			probe.Attrs = a
		}
		if rng.IntN(6) == 0 {
			a := map[string]string{}
			for k, v := range cand.Attrs {
				if rng.IntN(3) > 0 {
					a[k] = v
				}
			}
			cand.Attrs = a
		}
		out = append(out, [2]matcher.Record{probe, cand})
	}
	return out
}

// TestScoreAboveAgreesWithScore: under every shipped rule and at several thresholds,
// ScoreAbove keeps exactly the pairs whose Score reaches the threshold, with Score's result,
// whatever order it compares the fields in and wherever it stops, for candidates prepared in
// full and for candidates prepared lazily (PrepareCandidateWith) of which it prepares only the
// fields it compares.
func TestScoreAboveAgreesWithScore(t *testing.T) {
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	pairs := blockPairs(6000)
	kept := 0
	var scratch, scratch3 matcher.CandidateScratch
	for _, rl := range set.Rules() {
		r := rl.Matcher
		for _, min := range []float64{0.5, rl.WarnThreshold, rl.BlockThreshold, 0.999} {
			for k, p := range pairs {
				probe, cand := p[0], p[1]
				probe.Entity, cand.Entity = rl.Entity, rl.CandidateEntity
				a, b := r.Prepare(probe), r.PrepareCandidate(cand)
				want := r.Score(a, b)
				// The candidate prepared eagerly, and lazily as the engine does (no id, no
				// form: only the fields ScoreAbove compares are prepared).
				cand.ID = ""
				lazy := r.PrepareCandidateWith(&scratch, cand)
				// And lazily from packed attributes, as the indexes hand candidates out.
				packed := cand
				packed.Attrs, packed.Packed = nil, matcher.PackAttrs(cand.Attrs)
				var scratch2 matcher.CandidateScratch
				lazyPacked := r.PrepareCandidateWith(&scratch2, packed)
				// And decoded from its form as far as it is compared, as the in-process
				// index hands candidates out (its scratch reused from candidates without one).
				_, form := r.IndexEntry(cand, nil)
				formed := packed
				formed.Form = string(form)
				if k%2 == 0 {
					r.Explain(a, r.PrepareCandidateWith(&scratch3, packed)) // left in scratch3
				}
				fromForm := r.PrepareCandidateWith(&scratch3, formed)
				for j, cb := range []*matcher.Prepared{b, lazy, lazyPacked, fromForm} {
					got, ok := r.ScoreAbove(a, cb, min)
					if reach := want.Score >= min && want.Score > 0; ok != reach {
						t.Fatalf("%s, min %v, pair %d, candidate %d: ScoreAbove ok=%v, Score %v", rl.Name, min, k, j, ok, want.Score)
					}
					if ok {
						kept++
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("%s, min %v, pair %d, candidate %d: ScoreAbove\n%+v\nScore\n%+v", rl.Name, min, k, j, got, want)
						}
					}
				}
				// Whatever ScoreAbove left unprepared, the candidate's other uses see it all.
				for _, l := range []*matcher.Prepared{lazy, lazyPacked, fromForm} {
					if got, want := r.BlockingKeys(l), r.BlockingKeys(b); !reflect.DeepEqual(got, want) {
						t.Fatalf("%s, pair %d: keys of the lazy candidate %v, eager %v", rl.Name, k, got, want)
					}
				}
			}
		}
	}
	if kept < 1000 {
		t.Fatalf("only %d pairs reached a threshold: the pairs do not exercise the kept side", kept)
	}
}

// BenchmarkScoreAbove compares Score and ScoreAbove (at the contact rule's warn threshold) on
// the pairs a check scores.
//
//	go test ./matcher -run '^$' -bench ScoreAbove
func BenchmarkScoreAbove(b *testing.B) {
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		b.Fatal(err)
	}
	rl := set.Rules()[0]
	r := rl.Matcher
	var as, cs []*matcher.Prepared
	for _, p := range blockPairs(2000) {
		as, cs = append(as, r.Prepare(p[0])), append(cs, r.PrepareCandidate(p[1]))
	}
	b.Run("Score", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r.Score(as[i%len(as)], cs[i%len(cs)])
		}
	})
	b.Run("ScoreAbove", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			r.ScoreAbove(as[i%len(as)], cs[i%len(cs)], rl.WarnThreshold)
		}
	})
}
