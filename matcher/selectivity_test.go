package matcher_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// BenchmarkSelectivity measures how selective the shipped blocking keys are at CRM scale: it
// files N synthetic contacts (1,000,000 by default; DEDUPEGATE_SELECTIVITY_N changes it) under
// the rules' index keys, then looks up 10,000 new people and 10,000 re-entries of filed people
// the way the engine does (per rule, the union of the records under each key, at most
// per_key_limit = 200 per key) and reports candidates per lookup (mean, p50, p99, max) and
// index keys per record. DEDUPEGATE_RULES names another rules file (to compare).
//
//	go test ./matcher -run XXX -bench Selectivity -benchtime 1x
//
// The population mirrors cmd/dedupegate-bench's generator (a package main, so not importable):
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
	pop := population{seed: 42}
	type probe struct {
		rule string
		keys []string
	}
	// The keys each probe looks up, per rule searching contacts.
	var ps []probe
	wanted := map[string][]int32{}
	for i := 0; i < 2*probes; i++ {
		rec := pop.person(n + i) // a new person
		if i >= probes {
			rec = pop.duplicate(i-probes, uint64(i)) // a re-entry of a filed person
		}
		for _, entity := range []string{"contact", "lead"} {
			rec.Entity = entity
			for _, r := range set.ForEntity(entity) {
				if r.CandidateEntity != "contact" {
					continue
				}
				keys := r.Matcher.BlockingKeys(r.Matcher.Prepare(rec))
				ps = append(ps, probe{rule: r.Name, keys: keys})
				for _, k := range keys {
					wanted[k] = nil
				}
			}
		}
	}
	b.ResetTimer()
	start := time.Now()
	totalKeys := 0
	sizes := map[string]int{}
	for i := 0; i < n; i++ {
		keys := set.IndexKeys(pop.person(i))
		totalKeys += len(keys)
		for _, k := range keys {
			if post, ok := wanted[k]; ok {
				sizes[k]++
				if len(post) < perKey {
					wanted[k] = append(post, int32(i))
				}
			}
		}
	}
	b.StopTimer()
	byRule := map[string][]int{}
	capped := map[string]int{}
	seen := map[int32]bool{}
	for _, p := range ps {
		clear(seen)
		hitCap := false
		for _, k := range p.keys {
			for _, id := range wanted[k] {
				seen[id] = true
			}
			if sizes[k] > perKey {
				hitCap = true
			}
		}
		byRule[p.rule] = append(byRule[p.rule], len(seen))
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
		b.Logf("%-18s candidates per lookup: mean %.1f, p50 %d, p90 %d, p99 %d, max %d; %.1f%% of lookups hit a capped key",
			rule, mean, c[len(c)/2], c[len(c)*9/10], p99, c[len(c)-1], 100*float64(capped[rule])/float64(len(c)))
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

// population makes deterministic synthetic UK contacts, the distribution of
// cmd/dedupegate-bench/gen.go: 75% of first names and 35% of surnames from Zipf-weighted common
// lists (the most common first name about 3% of people, the most common surname 1.4%), the rest
// from a large space of rare names.
type population struct{ seed uint64 }

var (
	popFirst = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
		Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony
		Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin
		Amanda Brian Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura
		Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela
		Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra Frank
		Rachel Patrick Carolyn Raymond Janet Jack Catherine Oliver Amelia Harry Isla Noah Ava Leo Mia Oscar Ivy Arthur
		Freya Zoë José Søren Łukasz Siobhán Aoife Priya Arjun`)
	popLast = strings.Fields(`Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
		Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper
		Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price
		Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards
		Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali
		Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens
		Jenkins Murray Dixon Harvey O'Brien Müller Kowalski Nakamura Okafor Chowdhury Fraser Doherty McLaughlin Ahmed Shah`)
	popNick = map[string]string{"Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Margaret": "Maggie",
		"Richard": "Rick", "James": "Jim", "Michael": "Mike", "Thomas": "Tom", "Jennifer": "Jenny", "Katherine": "Kate",
		"Christopher": "Chris", "Daniel": "Dan", "Matthew": "Matt", "Anthony": "Tony", "Joseph": "Joe", "Samuel": "Sam",
		"Patricia": "Pat", "Rebecca": "Becky", "Benjamin": "Ben", "Alexander": "Alex", "Nicholas": "Nick", "Edward": "Ed"}
	popSyl = strings.Fields(`al an ar ber bran car da del den dor el en far gan hal har hen ing kel lan ley lin lor
		mar mer mont nor ock par ren ridge ros sal sel ston sut tan ter ton vel wick win worth`)
	popFirstSyl = strings.Fields(`a ai be bri ca co da de e el fa fi ga ha i ja ka ke la li ma mi na ni o pa ra re ro sa
		se ta te to va vi ya za`)
	popFirstEnd = strings.Fields(`la na ra ren ron den lyn nie sha tt ny ley ko mi der ston vin lia`)
	popStreets  = strings.Fields(`High Station Church Victoria Green Manor Park Queens Kings Mill Grange School London York
		Springfield Windsor Albert Chester Alexandra Highfield Mount Richmond Cedar Elm Oak Willow Beech Meadow Orchard`)
	popKinds   = []string{"Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens"}
	popCities  = strings.Fields(`London Manchester Birmingham Leeds Glasgow Sheffield Bradford Liverpool Edinburgh Bristol Cardiff Leicester Coventry Nottingham Belfast Brighton Hull Plymouth Reading Derby`)
	popDomains = []string{"gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "icloud.com", "btinternet.com",
		"northwind-traders.co.uk", "contoso-ltd.com", "fabrikam.org"}
)

func popZipf(r *rand.Rand, n int, off float64) int {
	u := r.Float64() * math.Log((float64(n)+off)/off)
	return min(max(int(off*math.Exp(u)-off), 0), n-1)
}

func (p population) person(i int) matcher.Record {
	r := rand.New(rand.NewPCG(p.seed, uint64(i)))
	pct := func(n int) bool { return r.IntN(100) < n }
	var first, last string
	if pct(75) {
		first = popFirst[popZipf(r, len(popFirst), 10)]
	} else {
		s := popFirstSyl[r.IntN(len(popFirstSyl))] + popFirstEnd[r.IntN(len(popFirstEnd))]
		first = strings.ToUpper(s[:1]) + s[1:]
	}
	if pct(35) {
		last = popLast[popZipf(r, len(popLast), 10)]
	} else {
		var sb strings.Builder
		for j, k := 0, 2+r.IntN(2); j < k; j++ {
			sb.WriteString(popSyl[r.IntN(len(popSyl))])
		}
		s := sb.String()
		last = strings.ToUpper(s[:1]) + s[1:]
	}
	a := map[string]string{"firstname": first, "lastname": last}
	if pct(90) {
		local := strings.ToLower(strings.NewReplacer("'", "", "ü", "u", "ø", "o").Replace(first + "." + last))
		a["emailaddress1"] = fmt.Sprintf("%s%d@%s", local, r.IntN(1000), popDomains[r.IntN(len(popDomains))])
	}
	if pct(60) {
		a["telephone1"] = fmt.Sprintf("+44 %d %04d %04d", 20+r.IntN(80), r.IntN(10000), r.IntN(10000))
	}
	if pct(70) {
		a["mobilephone"] = fmt.Sprintf("07%03d %06d", 400+r.IntN(600), r.IntN(1_000_000))
	}
	if pct(60) {
		a["birthdate"] = time.Date(1940+r.IntN(65), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	}
	if pct(70) {
		a["address1_line1"] = fmt.Sprintf("%d %s %s", 1+r.IntN(250), popStreets[r.IntN(len(popStreets))], popKinds[r.IntN(len(popKinds))])
		a["address1_postalcode"] = fmt.Sprintf("%c%c%d %d%c%c", 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)), 1+r.IntN(20), r.IntN(10), 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)))
		a["address1_city"] = popCities[r.IntN(len(popCities))]
		a["address1_country"] = "United Kingdom"
	}
	return matcher.Record{Entity: "contact", ID: strconv.Itoa(i), Attrs: a}
}

// duplicate is person i typed again: nickname, email case and padding, national phone format,
// a dropped address line.
func (p population) duplicate(i int, variant uint64) matcher.Record {
	orig := p.person(i)
	r := rand.New(rand.NewPCG(variant, uint64(i)))
	a := map[string]string{}
	for k, v := range orig.Attrs {
		a[k] = v
	}
	if nn, ok := popNick[a["firstname"]]; ok && r.IntN(2) == 0 {
		a["firstname"] = nn
	}
	if e, ok := a["emailaddress1"]; ok && r.IntN(2) == 0 {
		a["emailaddress1"] = " " + strings.ToUpper(e[:1]) + e[1:] + " "
	}
	if t, ok := a["telephone1"]; ok && r.IntN(2) == 0 {
		a["telephone1"] = "0" + strings.ReplaceAll(strings.TrimPrefix(t, "+44 "), " ", "")
	}
	if r.IntN(4) == 0 {
		delete(a, "address1_line1")
	}
	return matcher.Record{Entity: "contact", Attrs: a}
}
