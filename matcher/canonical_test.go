package matcher

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// slowPhone is NormalizePhone by libphonenumber alone (neither fast path).
func slowPhone(s string) string {
	return libraryE164(s, "", digitsOf(s), true)
}

// TestE164FastAgreesWithLibphonenumber checks that the fast path returns exactly what
// libphonenumber returns, on every region's example numbers and on random numbers of every
// country code it accepts.
func TestE164FastAgreesWithLibphonenumber(t *testing.T) {
	fast, total := 0, 0
	check := func(s string) {
		t.Helper()
		total++
		f := e164Fast(s)
		if f == "" {
			return
		}
		fast++
		if want := slowPhone(s); f != want {
			t.Errorf("e164Fast(%q) = %q, libphonenumber says %q", s, f, want)
		}
	}
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER, phonenumbers.UAN}
	for reg := range phonenumbers.GetSupportedRegions() {
		for _, ty := range types {
			if n := phonenumbers.GetExampleNumberForType(reg, ty); n != nil {
				check(phonenumbers.Format(n, phonenumbers.E164))
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for i := 0; i < 300; i++ {
			n := 6 + rng.IntN(8)
			s := fmt.Sprintf("+%d", cc)
			for j := 0; j < n; j++ {
				s += string(rune('0' + rng.IntN(10)))
			}
			check(s)
		}
	}
	if fast < total/3 {
		t.Errorf("fast path taken for %d of %d numbers, expected most", fast, total)
	}
	for _, s := range []string{"+442079460958", "+14155550123", "+33612345678"} {
		if e164Fast(s) != s {
			t.Errorf("e164Fast(%q) did not take the fast path", s)
		}
	}
	for _, s := range []string{"+4402079460958", "+44 20 7946 0958", "+390612345678", "442079460958", "+44207946095x8"} {
		if e164Fast(s) != "" {
			t.Errorf("e164Fast(%q) took the fast path", s)
		}
	}
}

func TestCanonicalRecord(t *testing.T) {
	spec := func(name, region string) RuleSpec {
		return RuleSpec{Name: name, Entity: "contact", DefaultRegion: region, CountryAttr: "address1_country",
			Fields: []FieldSpec{{Attr: "telephone1", Comparator: "phone"}, {Attr: "lastname", Comparator: "lastname"}}}
	}
	gb, err := Compile(spec("gb", "GB"), nil)
	if err != nil {
		t.Fatal(err)
	}
	us, err := Compile(spec("us", "US"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rules []*Rule
		in    map[string]string
		want  map[string]string
	}{
		{"national number", []*Rule{gb}, map[string]string{"telephone1": "020 7946 0958 ext 12", "lastname": "Smith"},
			map[string]string{"telephone1": "+442079460958", "lastname": "Smith"}},
		{"country attribute wins", []*Rule{gb}, map[string]string{"telephone1": "(415) 555-0123", "address1_country": "United States"},
			map[string]string{"telephone1": "+14155550123", "address1_country": "United States"}},
		{"rules disagree on a national number", []*Rule{gb, us}, map[string]string{"telephone1": "020 7946 0958"},
			map[string]string{"telephone1": "020 7946 0958"}},
		{"rules agree on an international number", []*Rule{gb, us}, map[string]string{"telephone1": "+44 20 7946 0958"},
			map[string]string{"telephone1": "+442079460958"}},
		{"unreadable kept", []*Rule{gb}, map[string]string{"telephone1": "call reception"},
			map[string]string{"telephone1": "call reception"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Record{Entity: "contact", ID: "1", Attrs: tt.in}
			before := fmt.Sprint(tt.in)
			got := CanonicalRecord(in, tt.rules...)
			if fmt.Sprint(got.Attrs) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got.Attrs, tt.want)
			}
			if fmt.Sprint(tt.in) != before {
				t.Errorf("input modified: %v", tt.in)
			}
			// The canonical copy prepares to the same values as the original.
			for _, r := range tt.rules {
				a, b := r.PrepareCandidate(Record{Entity: "contact", Attrs: tt.in}), r.PrepareCandidate(Record{Entity: "contact", Attrs: got.Attrs})
				if tt.name != "rules disagree on a national number" && a.vals[0].norm != b.vals[0].norm {
					t.Errorf("%s: prepared %q from the original, %q from the canonical copy", r.spec.Name, a.vals[0].norm, b.vals[0].norm)
				}
			}
		})
	}
}

// TestAnchoredPatternsWithoutRegexp: the metadata patterns decided without their expression
// (anchoredPattern.alts) find exactly what the expression finds, the end of the match and
// whether a capturing group took part, for every national and international prefix pattern of
// the library's metadata; and nearly all of them are decided so.
func TestAnchoredPatternsWithoutRegexp(t *testing.T) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	seen := map[string]bool{}
	total, simple := 0, 0
	for _, m := range coll.GetMetadata() {
		for _, expr := range []string{m.GetNationalPrefixForParsing(), m.GetInternationalPrefix()} {
			if expr == "" || seen[expr] {
				continue
			}
			seen[expr] = true
			p, err := newAnchoredPattern(expr)
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			total++
			if !p.simple {
				continue
			}
			simple++
			for n := 0; n <= 17; n++ {
				for range 200 {
					b := make([]byte, n)
					for i := range b {
						b[i] = byte('0' + rng.IntN(10))
					}
					// Often start like a match would, so that the classes are exercised.
					if len(p.alts) > 0 && rng.IntN(2) == 0 {
						q := p.alts[rng.IntN(len(p.alts))]
						for i := 0; i < len(q.pos) && i < n; i++ {
							for c := byte('0'); c <= '9'; c++ {
								if q.pos[i].has(c) && rng.IntN(3) == 0 {
									b[i] = c
									break
								}
							}
						}
					}
					s := string(b)
					wantEnd, wantGroup := -1, false
					if loc := p.re.FindStringSubmatchIndex(s); loc != nil {
						wantEnd = loc[1]
						for i := 2; i < len(loc); i += 2 {
							wantGroup = wantGroup || loc[i] >= 0
						}
					}
					if end, group := p.find(s); end != wantEnd || group != wantGroup {
						t.Fatalf("%s, %q: find %d %v, the expression %d %v", expr, s, end, group, wantEnd, wantGroup)
					}
				}
			}
		}
	}
	t.Logf("%d of %d distinct metadata patterns decided without their expression", simple, total)
	if simple*2 < total {
		t.Errorf("%d of %d metadata patterns decided without their expression, want ≥ half", simple, total)
	}
	// The national prefix patterns e164Fast tries for the common calling codes all are.
	for _, cc := range []int{1, 31, 33, 34, 39, 44, 49, 61, 91, 353} {
		for _, p := range fastCountryCodes()[cc] {
			if !p.simple && !p.literal {
				t.Errorf("+%d: national prefix pattern %s needs its expression", cc, p.re)
			}
		}
	}
}
