package matcher

import (
	"fmt"
	"strings"
)

// PLACEHOLDER IMPLEMENTATION: the matching-engine issue replaces the internals of this file
// (normalisers, comparators, nicknames, phonetics). The exported API is the contract the rules
// engine and the index rely on.

// Lexicon holds the reference data comparators use (nicknames, company legal suffixes).
type Lexicon struct{}

// Rule is a compiled RuleSpec, safe for concurrent use.
type Rule struct {
	spec RuleSpec
}

// Compile checks a spec and prepares it for scoring. lex may be nil.
func Compile(spec RuleSpec, lex *Lexicon) (*Rule, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("rule has no name")
	}
	if spec.CandidateEntity == "" {
		spec.CandidateEntity = spec.Entity
	}
	return &Rule{spec: spec}, nil
}

// Spec returns the spec the rule was compiled from.
func (r *Rule) Spec() RuleSpec { return r.spec }

// Prepared is a record normalised once for one rule, reused across all comparisons of a check.
type Prepared struct {
	Record Record
	vals   []string // per field, normalised
}

// Prepare normalises the record being checked (its attributes are read by FieldSpec.Attr).
func (r *Rule) Prepare(rec Record) *Prepared { return r.prepare(rec, false) }

// PrepareCandidate normalises a candidate (attributes read by FieldSpec.CandidateAttr).
func (r *Rule) PrepareCandidate(rec Record) *Prepared { return r.prepare(rec, true) }

func (r *Rule) prepare(rec Record, cand bool) *Prepared {
	p := &Prepared{Record: rec, vals: make([]string, len(r.spec.Fields))}
	for i, f := range r.spec.Fields {
		a := f.Attr
		if cand && f.CandidateAttr != "" {
			a = f.CandidateAttr
		}
		p.vals[i] = strings.ToLower(strings.TrimSpace(rec.Attrs[a]))
	}
	return p
}

// BlockingKeys returns the index keys under which candidates for p are filed.
func (r *Rule) BlockingKeys(p *Prepared) []string {
	var keys []string
	for i, f := range r.spec.Fields {
		if f.Blocking && p.vals[i] != "" {
			keys = append(keys, r.spec.CandidateEntity+"|"+f.Attr+"|"+p.vals[i])
		}
	}
	return keys
}

// StrongKeys returns the keys of p's exact identifiers, reserved against concurrent creates.
func (r *Rule) StrongKeys(p *Prepared) []string {
	var keys []string
	for i, f := range r.spec.Fields {
		if f.Strong && p.vals[i] != "" {
			keys = append(keys, r.spec.CandidateEntity+"|"+f.Attr+"|"+p.vals[i])
		}
	}
	return keys
}

// IndexKeys returns the keys under which rec, a row of the rule's candidate table, is filed.
func (r *Rule) IndexKeys(rec Record) []string {
	return r.BlockingKeys(r.PrepareCandidate(rec))
}

// Score compares the checked record a with candidate b.
func (r *Rule) Score(a, b *Prepared) Result {
	var res Result
	var total, weights float64
	for i, f := range r.spec.Fields {
		w := f.Weight
		if w == 0 {
			w = 1
		}
		sim := 0.0
		if a.vals[i] != "" && a.vals[i] == b.vals[i] {
			sim = 1
			res.Reasons = append(res.Reasons, f.Attr+" equal")
		}
		if f.Required && sim < f.MinSimilarity {
			return Result{Fields: res.Fields}
		}
		res.Fields = append(res.Fields, FieldResult{Attr: f.Attr, Similarity: sim})
		total += w * sim
		weights += w
	}
	if weights > 0 {
		res.Score = total / weights
	}
	return res
}
