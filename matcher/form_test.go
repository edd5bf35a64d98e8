package matcher_test

import (
	"reflect"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/synth"
)

// formRules returns the shipped rules that read contacts as candidates.
func formRules(t testing.TB) []*matcher.Rule {
	t.Helper()
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []*matcher.Rule
	for _, r := range set.Rules() {
		if r.CandidateEntity == "contact" {
			out = append(out, r.Matcher)
		}
	}
	if len(out) < 2 {
		t.Fatalf("want the contact rule and a cross-table rule reading contacts, got %d rules", len(out))
	}
	return out
}

// TestFormScoresAsPrepared: a candidate decoded from its form scores and explains exactly as
// the same candidate prepared from its attributes, under every rule reading contacts, for new
// people and re-entries of the synthetic population; IndexEntry's keys are IndexKeys'.
func TestFormScoresAsPrepared(t *testing.T) {
	rs := formRules(t)
	pop := synth.People{Seed: 7}
	var scratch matcher.CandidateScratch
	for i := range 400 {
		cand := pop.Person(i)
		var form []byte
		for _, r := range rs {
			var keys []string
			keys, form = r.IndexEntry(cand, form)
			if want := r.IndexKeys(cand); !reflect.DeepEqual(keys, want) {
				t.Fatalf("person %d, %s: IndexEntry keys %v, IndexKeys %v", i, r.Spec().Name, keys, want)
			}
		}
		withForm := cand
		withForm.Form = string(form)
		for j, probe := range []matcher.Record{pop.Duplicate(i, uint64(i)), pop.Person(i + 1000), pop.Duplicate(i+1, 3)} {
			for _, r := range rs {
				probe.Entity = r.Spec().Entity
				a := r.Prepare(probe)
				want := r.Explain(a, r.PrepareCandidate(cand))
				got := r.Explain(a, r.PrepareCandidateWith(&scratch, withForm))
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("person %d, probe %d, %s: from the form\n%+v\nprepared\n%+v", i, j, r.Spec().Name, got, want)
				}
			}
		}
	}
}

// TestFormOfOtherRulesIgnored: a form written by another compiled rule (the rules were
// reloaded) or a damaged one is not read: the candidate is prepared from its attributes.
func TestFormOfOtherRulesIgnored(t *testing.T) {
	old, cur := formRules(t)[0], formRules(t)[0] // the same spec compiled twice
	pop := synth.People{Seed: 9}
	cand := pop.Person(1)
	_, form := old.IndexEntry(cand, nil)
	// A form whose values are another person's: if cur read it, the scores would differ.
	other := pop.Person(2)
	other.ID = cand.ID
	_, otherForm := old.IndexEntry(other, nil)
	a := cur.Prepare(pop.Duplicate(1, 1))
	want := cur.Explain(a, cur.PrepareCandidate(cand))
	var scratch matcher.CandidateScratch
	for name, f := range map[string]string{
		"another rule's form":   string(otherForm),
		"truncated":             string(form[:len(form)/2]),
		"trailing bytes":        string(append(append([]byte{}, form...), 0x01)),
		"not a form":            "\xff\xff\xff",
		"empty":                 "",
		"another rule, correct": string(form),
	} {
		c := cand
		c.Form = f
		if got := cur.Explain(a, cur.PrepareCandidateWith(&scratch, c)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
	// A section of cur's own is read even when it follows another rule's.
	_, mine := cur.IndexEntry(other, otherForm)
	c := cand
	c.Form = string(mine)
	if got := cur.Explain(a, cur.PrepareCandidateWith(&scratch, c)); reflect.DeepEqual(got, want) {
		t.Errorf("cur's own section (another person's values) was not read: the form is ignored")
	}
}

// FuzzCandidateForm: any bytes in a record's form are either decoded or ignored, never a
// panic, and a form that does not decode leaves the candidate as prepared from its attributes.
func FuzzCandidateForm(f *testing.F) {
	rs := formRules(f)
	pop := synth.People{Seed: 11}
	cand := pop.Person(3)
	var form []byte
	for _, r := range rs {
		_, form = r.IndexEntry(cand, form)
	}
	f.Add(form)
	f.Add(form[:len(form)-1])
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := cand
		c.Form = string(b)
		var scratch matcher.CandidateScratch
		for _, r := range rs {
			a := r.Prepare(pop.Duplicate(3, 1))
			_ = r.Explain(a, r.PrepareCandidateWith(&scratch, c))
		}
	})
}

// BenchmarkCandidateForm compares a candidate decoded from its form with one prepared from its
// (canonical) attributes, uncached.
//
//	go test ./matcher -run XXX -bench CandidateForm -benchmem
func BenchmarkCandidateForm(b *testing.B) {
	rs := formRules(b)
	r := rs[0]
	pop := synth.People{Seed: 5}
	cands := make([]matcher.Record, 1000)
	for i := range cands {
		c := r.Canonical(pop.Person(i))
		_, form := r.IndexEntry(c, nil)
		c.Form = string(form)
		cands[i] = c
	}
	a := r.Prepare(pop.Duplicate(1, 1))
	b.Run("decoded", func(b *testing.B) {
		var scratch matcher.CandidateScratch
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			r.Score(a, r.PrepareCandidateWith(&scratch, cands[i%len(cands)]))
		}
	})
	b.Run("prepared", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c := cands[i%len(cands)]
			c.Form, c.ID = "", "" // no form, no cache
			r.Score(a, r.PrepareCandidate(c))
		}
	})
}

// TestPrepareCheckedFromForm: a checked record carrying its own form (a scanned row, filed
// just before its check) scores and explains exactly as the record prepared again, under a
// rule that reads the same attributes on both sides; under a cross-table rule the form is not
// used (its section holds the candidate side's attributes) and the record is prepared.
func TestPrepareCheckedFromForm(t *testing.T) {
	rs := formRules(t)
	pop := synth.People{Seed: 11}
	var scratch matcher.CandidateScratch
	symmetric := 0
	for i := range 300 {
		probe := pop.Duplicate(i, uint64(i))
		var form []byte
		for _, r := range rs {
			_, form = r.IndexEntry(probe, form)
		}
		withForm := probe
		withForm.Form = string(form)
		for _, cand := range []matcher.Record{pop.Person(i), pop.Person(i + 1)} {
			for _, r := range rs {
				p := probe
				p.Entity = r.Spec().Entity
				wf := withForm
				wf.Entity = r.Spec().Entity
				want := r.Explain(r.Prepare(p), r.PrepareCandidate(cand))
				got := r.Explain(r.PrepareChecked(wf), r.PrepareCandidateWith(&scratch, cand))
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("probe %d, %s: from its form\n%+v\nprepared\n%+v", i, r.Spec().Name, got, want)
				}
				if r.Spec().Entity == r.Spec().CandidateEntity {
					symmetric++
				}
			}
		}
	}
	if symmetric == 0 {
		t.Fatal("no rule read its own table: the form path was not exercised")
	}
	// The form is what is read: a record carrying another person's form scores as that person.
	r := rs[0]
	if r.Spec().Entity != r.Spec().CandidateEntity {
		t.Fatalf("%s: want the contact rule first", r.Spec().Name)
	}
	a, b, cand := pop.Person(1), pop.Person(2), pop.Person(2)
	_, formB := r.IndexEntry(b, nil)
	a.Form = string(formB)
	got := r.Score(r.PrepareChecked(a), r.PrepareCandidate(cand)).Score
	want := r.Score(r.Prepare(b), r.PrepareCandidate(cand)).Score
	if got != want || got < 0.99 {
		t.Fatalf("a record carrying person 2's form scores %v against person 2, want %v (the form unread?)", got, want)
	}
}

// TestCandidateWithoutFormAsPrepared: a candidate without a form (a Redis index's) scores as
// PrepareCandidate's the first time (prepared into the scratch), the second (prepared and
// cached) and the third time (from the cache), with the scratch reused in between.
func TestCandidateWithoutFormAsPrepared(t *testing.T) {
	rs := formRules(t)
	pop := synth.People{Seed: 13}
	var scratch matcher.CandidateScratch
	for round := range 3 {
		for i := range 200 {
			cand := pop.Person(i)
			packed := matcher.Record{Entity: cand.Entity, ID: cand.ID, Packed: matcher.PackAttrs(cand.Attrs)}
			for _, r := range rs {
				probe := pop.Duplicate(i, uint64(i))
				probe.Entity = r.Spec().Entity
				a := r.Prepare(probe)
				want := r.Explain(a, r.PrepareCandidate(cand))
				for _, c := range []matcher.Record{cand, packed} {
					if got := r.Explain(a, r.PrepareCandidateWith(&scratch, c)); !reflect.DeepEqual(got, want) {
						t.Fatalf("round %d, person %d, %s: with the scratch\n%+v\nprepared\n%+v", round, i, r.Spec().Name, got, want)
					}
				}
			}
		}
	}
}
