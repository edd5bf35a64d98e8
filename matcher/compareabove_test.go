package matcher

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCompareAboveAgreesWithCompare: given a minimum, a comparator either answers what
// compare answers or, when that is below the minimum, something below it too: ScoreAbove
// gives a candidate up on either. Values are typed variants of e-mail addresses and street
// addresses (typos, other domains, other house numbers and flats).
func TestCompareAboveAgreesWithCompare(t *testing.T) {
	r, err := Compile(RuleSpec{Name: "t", Entity: "contact", DefaultRegion: "GB", Fields: []FieldSpec{
		{Attr: "emailaddress1", Comparator: "email"},
		{Attr: "address1_line1", Comparator: "address"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	typo := func(s string) string {
		b := []byte(s)
		for range rng.IntN(4) {
			i := rng.IntN(len(b))
			switch rng.IntN(3) {
			case 0:
				b[i] = byte('a' + rng.IntN(26))
			case 1:
				b = append(b[:i], b[i+1:]...)
			default:
				if i+1 < len(b) {
					b[i], b[i+1] = b[i+1], b[i]
				}
			}
			if len(b) < 3 {
				break
			}
		}
		return string(b)
	}
	locals := []string{"lisa.kings", "l.kings", "kings.lisa", "robert.brown", "rob.brown77", "bob", "jsmith"}
	domains := []string{"example.com", "example.org", "mail.example.net"}
	email := func() string {
		l := locals[rng.IntN(len(locals))]
		if rng.IntN(3) == 0 {
			l = typo(l)
		}
		return l + "@" + domains[rng.IntN(len(domains))]
	}
	streets := []string{"Kings Road", "King Road", "Queens Road", "High Street", "Station Rd"}
	address := func() string {
		var b strings.Builder
		if rng.IntN(4) > 0 {
			b.WriteString([]string{"Flat 2, ", "Flat 3, ", "Apt 2 ", ""}[rng.IntN(4)])
		}
		if rng.IntN(5) > 0 {
			b.WriteString([]string{"32 ", "33 ", "23 ", "132 "}[rng.IntN(4)])
		}
		s := streets[rng.IntN(len(streets))]
		if rng.IntN(3) == 0 {
			s = typo(s)
		}
		b.WriteString(s)
		return b.String()
	}
	gens := []func() string{email, address}
	below := 0
	for i := range r.fields {
		f := &r.fields[i]
		for range 20000 {
			a := f.prepareValue(r.lex, gens[i](), "")
			b := f.prepareValue(r.lex, gens[i](), "")
			if a.blank() || b.blank() {
				continue
			}
			min := rng.Float64()
			want, wantNote := f.compare(r.lex, &a, &b)
			got, gotNote := f.compareAbove(r.lex, &a, &b, min)
			if want >= min && (got != want || gotNote != wantNote) {
				t.Fatalf("%s %q vs %q above %.3f: %.4f (%v), compare says %.4f (%v)", f.spec.Attr, a.raw, b.raw, min, got, gotNote, want, wantNote)
			}
			if want < min {
				below++
				if got >= min {
					t.Fatalf("%s %q vs %q above %.3f: %.4f, but compare says %.4f", f.spec.Attr, a.raw, b.raw, min, got, want)
				}
			}
		}
	}
	if below == 0 {
		t.Fatal("no pair compared below its minimum: the test exercises nothing")
	}
	// A similarity of exactly the minimum (here the e-mail floor, 0.8: two edits in ten
	// characters) is kept, whatever 1-0.8 rounds to.
	f := &r.fields[0]
	for l := 10; l <= 60; l += 5 {
		x := strings.Repeat("a", l-len("@x.io")) + "@x.io"
		y := []byte(x)
		for i := range l / 5 {
			y[i] = 'b'
		}
		a, b := f.prepareValue(r.lex, x, ""), f.prepareValue(r.lex, string(y), "")
		want, _ := f.compare(r.lex, &a, &b)
		if got, _ := f.compareAbove(r.lex, &a, &b, f.floor); got != want || want < f.floor-1e-9 {
			t.Fatalf("%q vs %q above the floor %v: %v, compare says %v", x, y, f.floor, got, want)
		}
	}
}

// TestLeast: least(req) is the least similarity whose points reach req.
func TestLeast(t *testing.T) {
	f := field{weight: 16, penalty: 2, floor: 0.8}
	for _, req := range []float64{-5, -2, -1.5, 0, 0.1, 4, 8, 15.9, 16} {
		s := f.least(req)
		if f.points(s)+1e-9 < req {
			t.Errorf("least(%v) = %v: its points %v are below", req, s, f.points(s))
		}
		if s > 0 && f.points(s-1e-6) >= req && s != f.floor {
			t.Errorf("least(%v) = %v: a lower similarity reaches it too", req, s)
		}
	}
}
