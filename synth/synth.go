// Package synth generates synthetic CRM people for load tests and benchmarks: a deterministic
// population of UK contacts with a realistic, long-tailed name distribution, and re-entries of
// them as users type them again. It holds no real personal data.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
)

// people makes deterministic synthetic UK contacts: person i is always the same person for a
// seed. Names follow a long-tailed distribution like a real CRM's: a third of the surnames are
// common ones (Smith, Jones... weighted by Zipf's law) and the rest come from a large space of
// rarer names, so that name blocks are big for common names and small for the rest.
type People struct {
	// Seed selects the population; the same seed gives the same people.
	Seed uint64
}

var (
	commonFirst = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara
		Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony
		Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin
		Amanda Brian Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura
		Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela
		Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine Alexander Debra Frank
		Rachel Patrick Carolyn Raymond Janet Jack Catherine Oliver Amelia Harry Isla Noah Ava Leo Mia Oscar Ivy Arthur
		Freya Zoë José Søren Łukasz Siobhán Aoife Priya Arjun`)
	commonLast = strings.Fields(`Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
		Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper
		Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price
		Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards
		Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali
		Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens
		Jenkins Murray Dixon Harvey O'Brien Müller Kowalski Nakamura Okafor Chowdhury Fraser Doherty McLaughlin Ahmed Shah`)
	nicknames = map[string]string{"Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Margaret": "Maggie",
		"Richard": "Rick", "James": "Jim", "Michael": "Mike", "Thomas": "Tom", "Jennifer": "Jenny", "Katherine": "Kate",
		"Christopher": "Chris", "Daniel": "Dan", "Matthew": "Matt", "Anthony": "Tony", "Joseph": "Joe", "Samuel": "Sam",
		"Patricia": "Pat", "Rebecca": "Becky", "Benjamin": "Ben", "Alexander": "Alex", "Nicholas": "Nick", "Edward": "Ed"}
	syllables = strings.Fields(`al an ar ber bran car da del den dor el en far gan hal har hen ing kel lan ley lin lor
		mar mer mont nor ock par ren ridge ros sal sel ston sut tan ter ton vel wick win worth`)
	firstSyl = strings.Fields(`a ai be bri ca co da de e el fa fi ga ha i ja ka ke la li ma mi na ni o pa ra re ro sa
		se ta te to va vi ya za`)
	firstEnd = strings.Fields(`la na ra ren ron den lyn nie sha tt ny ley ko mi der ston vin lia`)
	streets  = strings.Fields(`High Station Church Victoria Green Manor Park Queens Kings Mill Grange School London York
		Springfield Windsor Albert Chester Alexandra Highfield Mount Richmond Cedar Elm Oak Willow Beech Meadow Orchard`)
	streetKinds = []string{"Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens"}
	cities      = strings.Fields(`London Manchester Birmingham Leeds Glasgow Sheffield Bradford Liverpool Edinburgh
		Bristol Cardiff Leicester Coventry Nottingham Belfast Brighton Hull Plymouth Reading Derby`)
	domains = []string{"gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "icloud.com", "btinternet.com",
		"northwind-traders.co.uk", "contoso-ltd.com", "fabrikam.org"}
)

func (p People) rng(i int) *rand.Rand { return rand.New(rand.NewPCG(p.Seed, uint64(i))) }

// zipf draws an index in [0,n) with weight 1/(k+off): off 10 gives the flattened head of real
// name frequencies (the most common first name about 3% of people, the most common surname
// about 1.4%, rather than the 15% of a pure 1/k law).
func zipf(r *rand.Rand, n int, off float64) int {
	// Inverse of the CDF of 1/(x+off) on [0,n): ln((x+off)/off) / ln((n+off)/off).
	u := r.Float64() * math.Log((float64(n)+off)/off)
	k := int(off*math.Exp(u) - off)
	return min(max(k, 0), n-1)
}

func (p People) first(r *rand.Rand) string {
	if r.IntN(100) < 75 {
		return commonFirst[zipf(r, len(commonFirst), 10)]
	}
	s := firstSyl[r.IntN(len(firstSyl))] + firstEnd[r.IntN(len(firstEnd))]
	return strings.ToUpper(s[:1]) + s[1:]
}

func (p People) last(r *rand.Rand) string {
	if r.IntN(100) < 35 {
		return commonLast[zipf(r, len(commonLast), 10)]
	}
	n := 2 + r.IntN(2)
	var b strings.Builder
	for j := 0; j < n; j++ {
		b.WriteString(syllables[r.IntN(len(syllables))])
	}
	s := b.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

// Person returns person i as a Dataverse row (string attributes as the webhook decodes them).
func (p People) Person(i int) matcher.Record {
	r := p.rng(i)
	pct := func(n int) bool { return r.IntN(100) < n }
	first, last := p.first(r), p.last(r)
	id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
	a := map[string]string{"firstname": first, "lastname": last, "fullname": first + " " + last}
	if pct(90) {
		local := strings.ToLower(strings.NewReplacer("'", "", "ü", "u", "ø", "o").Replace(first + "." + last))
		a["emailaddress1"] = fmt.Sprintf("%s%d@%s", local, r.IntN(1000), domains[r.IntN(len(domains))])
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
		a["address1_line1"] = fmt.Sprintf("%d %s %s", 1+r.IntN(250), streets[r.IntN(len(streets))], streetKinds[r.IntN(len(streetKinds))])
		a["address1_postalcode"] = fmt.Sprintf("%c%c%d %d%c%c", 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)), 1+r.IntN(20), r.IntN(10), 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)))
		a["address1_city"] = cities[r.IntN(len(cities))]
		a["address1_country"] = "United Kingdom"
	}
	return matcher.Record{Entity: "contact", ID: id, Attrs: a}
}

// Duplicate returns a re-entry of person i as a user would type it again: the same person
// with some of nickname, email case and padding, phone formatting, a dropped field.
func (p People) Duplicate(i int, variant uint64) matcher.Record {
	orig := p.Person(i)
	r := rand.New(rand.NewPCG(variant, uint64(i)))
	a := map[string]string{}
	for k, v := range orig.Attrs {
		if k != "fullname" {
			a[k] = v
		}
	}
	if n, ok := nicknames[a["firstname"]]; ok && r.IntN(2) == 0 {
		a["firstname"] = n
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
