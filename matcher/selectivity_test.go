package matcher_test

import (
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/synth"
)

// BenchmarkSelectivity measures how selective the shipped blocking keys are at CRM scale: it
// files N synthetic contacts (1,000,000 by default; DEDUPEGATE_SELECTIVITY_N changes it) under
// the rules' index keys, then looks up 10,000 new people and 10,000 re-entries of filed people
// the way the engine does (per rule, the union of the records under each key, none under a
// key whose block exceeds its max_block, at most per_key_limit = 200 per key) and reports candidates per lookup (mean, p50, p99, max) and
// index keys per record. DEDUPEGATE_RULES names another rules file (to compare).
//
//	go test ./matcher -run XXX -bench Selectivity -benchtime 1x
//
// The population is cmd/dedupegate-bench's (package synth):
// Zipf-weighted common first and last names with a long tail of rare ones, birth dates over 65
// years, emails, UK phones and addresses.
func BenchmarkSelectivity(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("DEDUPEGATE_SELECTIVITY_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("DEDUPEGATE_SELECTIVITY_N=%q: want a positive number", s)
		}
		n = v
	}
	data, name := configs.DefaultRules, "rules.yaml (shipped)"
	if p := os.Getenv("DEDUPEGATE_RULES"); p != "" {
		var err error
		if data, err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
		name = p
	}
	set, err := rules.Parse(data, name, nil)
	if err != nil {
		b.Fatal(err)
	}
	const perKey, probes = 200, 10_000
	pop := synth.People{Seed: 42}
	type probe struct {
		rule     string
		keys     []string
		maxBlock []int // the key's KeySpec.MaxBlock (0: none)
		orig     int32 // the filed person a re-entry duplicates; -1 for a new person
	}
	// The keys each probe looks up, per rule searching contacts.
	var ps []probe
	wanted := map[string][]int32{}
	for i := 0; i < 2*probes; i++ {
		rec := pop.Person(n + i) // a new person
		if i >= probes {
			rec = pop.Duplicate(i-probes, uint64(i)) // a re-entry of a filed person
		}
		for _, entity := range []string{"contact", "lead"} {
			rec.Entity = entity
			for _, r := range set.ForEntity(entity) {
				if r.CandidateEntity != "contact" {
					continue
				}
				keys := r.Matcher.BlockingKeys(r.Matcher.Prepare(rec))
				maxBlock := make([]int, len(keys))
				for j, k := range keys {
					maxBlock[j] = r.Matcher.KeyMaxBlock(k)
				}
				orig := int32(-1)
				if i >= probes {
					orig = int32(i - probes)
				}
				ps = append(ps, probe{rule: r.Name, keys: keys, maxBlock: maxBlock, orig: orig})
				for _, k := range keys {
					wanted[k] = nil
				}
			}
		}
	}
	b.ResetTimer()
	start := time.Now()
	totalKeys := 0
	for i := 0; i < n; i++ {
		keys := set.IndexKeys(pop.Person(i))
		totalKeys += len(keys)
		for _, k := range keys {
			if post, ok := wanted[k]; ok {
				wanted[k] = append(post, int32(i))
			}
		}
	}
	b.StopTimer()
	// Which records of a block over its limit an index returns is arbitrary (the in-process
	// index takes them in id order, Redis in hash order; ids are random GUIDs): model it as a
	// pseudo-random order, not filing order, or re-entries of early people would always be found.
	for k, post := range wanted {
		slices.SortFunc(post, func(a, b int32) int { return int(scramble(a)>>1) - int(scramble(b)>>1) })
		wanted[k] = post
	}
	byRule := map[string][]int{}
	found, dups := map[string]int{}, map[string]int{}
	capped := map[string]int{}
	seen := map[int32]bool{}
	for _, p := range ps {
		clear(seen)
		hitCap := false
		for j, k := range p.keys {
			post := wanted[k]
			switch {
			case p.maxBlock[j] > 0 && len(post) > p.maxBlock[j]:
				post, hitCap = nil, true // block purging: a broad key over its maximum is skipped
			case len(post) > perKey:
				post, hitCap = post[:perKey], true
			}
			for _, id := range post {
				seen[id] = true
			}
		}
		byRule[p.rule] = append(byRule[p.rule], len(seen))
		if p.orig >= 0 {
			dups[p.rule]++
			if seen[p.orig] {
				found[p.rule]++
			}
		}
		if hitCap {
			capped[p.rule]++
		}
	}
	b.Logf("%d contacts filed in %s under %.2f keys each (%d per key at most per lookup)", n, time.Since(start).Round(time.Second), float64(totalKeys)/float64(n), perKey)
	ruleNames := mapKeys(byRule)
	slices.Sort(ruleNames)
	for _, rule := range ruleNames {
		c := byRule[rule]
		slices.Sort(c)
		sum := 0
		for _, x := range c {
			sum += x
		}
		mean := float64(sum) / float64(len(c))
		p99 := c[int(math.Ceil(0.99*float64(len(c))))-1]
		b.Logf("%-18s candidates per lookup: mean %.1f, p50 %d, p90 %d, p99 %d, max %d; %.1f%% of lookups hit a skipped or capped key; re-entries whose original was among the candidates: %.4f",
			rule, mean, c[len(c)/2], c[len(c)*9/10], p99, c[len(c)-1], 100*float64(capped[rule])/float64(len(c)), float64(found[rule])/float64(max(dups[rule], 1)))
		if rule == "contact-duplicate" {
			b.ReportMetric(mean, "cand/lookup")
			b.ReportMetric(float64(p99), "p99-cand/lookup")
		}
	}
	b.ReportMetric(float64(totalKeys)/float64(n), "keys/record")
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// scramble is a fixed bijective mix of a record number (a stand-in for its random GUID).
func scramble(x int32) uint32 {
	v := uint32(x) * 0x9E3779B1
	v ^= v >> 15
	v *= 0x85EBCA77
	v ^= v >> 13
	return v
}
