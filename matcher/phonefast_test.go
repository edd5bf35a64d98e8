package matcher

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// phoneArgs prepares raw as NormalizePhone does before it calls parsePhone.
func phoneArgs(raw string) (s, digits string, plus bool) {
	s = stripExtension(cleanRaw(raw))
	digits = digitsOf(s)
	plus = strings.HasPrefix(strings.TrimLeft(s, " ("), "+") || strings.HasPrefix(digits, "00")
	return s, digits, plus
}

// fastAnswer is parsePhone's fast path alone: its answer, and whether it gave one.
func fastAnswer(s, region, digits string, plus bool) (string, bool) {
	d, ok := plainPhoneDigits(s, digits, plus)
	if !ok {
		return "", false
	}
	return fastE164(d, plus, region)
}

// checkFastPhone compares the fast path with the library on raw read in region, as
// NormalizePhone would call parsePhone, and also with plus inverted (a direct caller of
// parsePhone may pass anything). It reports whether the fast path answered the NormalizePhone
// call.
func checkFastPhone(t testing.TB, raw, region string) (claimed bool) {
	t.Helper()
	s, digits, plus := phoneArgs(raw)
	if digits == "" {
		return false
	}
	for _, p := range []bool{plus, !plus} {
		got, ok := fastAnswer(s, region, digits, p)
		if p == plus {
			claimed = ok
		}
		if !ok {
			continue
		}
		if want := libraryE164(s, region, digits, p); got != want {
			t.Errorf("fast path on %q (s %q, region %q, plus %v) = %q, library says %q", raw, s, region, p, got, want)
		}
	}
	return claimed
}

var allPhoneTypes = []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE,
	phonenumbers.TOLL_FREE, phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP,
	phonenumbers.PERSONAL_NUMBER, phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}

// fastCoreRegions are the regions most of our data comes from: the fast path must answer
// nearly all of their example numbers itself.
var fastCoreRegions = []string{"GB", "US", "CA", "IE", "AU", "DE", "FR", "NL", "ES", "IT", "IN"}

// sortedRegions lists the regions the library supports, in order, so that a seeded run is
// repeatable.
func sortedRegions() []string {
	var regions []string
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	return regions
}

// examplePhoneInputs returns ways of writing the national significant number nsn of region:
// national with and without the trunk prefix, international with '+', "00" or the bare
// calling code, with the trunk prefix after the calling code, with separators.
func examplePhoneInputs(region, nsn string) []string {
	cc := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
	np := phonenumbers.GetNddPrefixForRegion(region, true)
	in := []string{nsn, np + nsn, "+" + cc + nsn, "+" + cc + " " + nsn, "00" + cc + " " + nsn, cc + nsn,
		"+" + cc + " " + np + nsn, cc + np + nsn}
	if np != "" {
		in = append(in, "+"+cc+" ("+np+") "+nsn)
	}
	if len(nsn) > 6 {
		in = append(in, np+nsn[:3]+"-"+nsn[3:6]+"-"+nsn[6:], "("+np+nsn[:3]+") "+nsn[3:6]+"."+nsn[6:],
			"+"+cc+"/"+nsn[:2]+" "+nsn[2:])
	}
	return in
}

// punctuate inserts random separators between the digits of s.
func punctuate(rng *rand.Rand, s string) string {
	const seps = " -.()/"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i > 0 && rng.IntN(3) == 0 {
			b.WriteByte(seps[rng.IntN(len(seps))])
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// TestFastE164MatchesLibrary checks the fast path against the library on every supported
// region: its example numbers of every type written in many ways, variations of them, and
// random digit strings with and without '+', trunk prefix, calling code and separators. It
// also requires the fast path to answer at least 90% of the example inputs of each core region.
func TestFastE164MatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	total, claimed := 0, 0
	coreTotal, coreClaimed := map[string]int{}, map[string]int{}
	isCore := map[string]bool{}
	for _, r := range fastCoreRegions {
		isCore[r] = true
	}
	check := func(raw, region string, example bool) {
		total++
		ok := checkFastPhone(t, raw, region)
		if ok {
			claimed++
		}
		if example && isCore[region] {
			coreTotal[region]++
			if ok {
				coreClaimed[region]++
			}
		}
	}
	for _, region := range sortedRegions() {
		cc := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))
		np := phonenumbers.GetNddPrefixForRegion(region, true)
		for _, ty := range allPhoneTypes {
			ex := phonenumbers.GetExampleNumberForType(region, ty)
			if ex == nil {
				continue
			}
			for _, f := range []phonenumbers.PhoneNumberFormat{phonenumbers.NATIONAL,
				phonenumbers.INTERNATIONAL, phonenumbers.E164} {
				check(phonenumbers.Format(ex, f), region, true)
			}
			nsn := phonenumbers.GetNationalSignificantNumber(ex)
			for _, in := range examplePhoneInputs(region, nsn) {
				check(in, region, true)
			}
			// Neighbours of the example: same start, other subscriber digits, other lengths.
			for i := 0; i < 6; i++ {
				keep := 1 + rng.IntN(len(nsn))
				v := nsn[:keep] + randomDigits(rng, max(0, len(nsn)-keep+rng.IntN(3)-1))
				for _, in := range examplePhoneInputs(region, v) {
					check(in, region, false)
				}
			}
		}
		// Text the fast path must decline or read exactly as the library does.
		const odd = "0123456789 +-.()/x#~,;*:eE\u00a0\uff11"
		for i := 0; i < 10; i++ {
			r := []rune(odd)
			b := make([]rune, 3+rng.IntN(18))
			for j := range b {
				b[j] = r[rng.IntN(len(r))]
			}
			check(string(b), region, false)
		}
		for i := 0; i < 40; i++ {
			d := randomDigits(rng, 4+rng.IntN(14))
			for _, in := range []string{d, "+" + d, np + d, cc + d, "+" + cc + d, "+" + cc + np + d, "00" + d} {
				check(in, region, false)
				check(punctuate(rng, in), region, false)
			}
		}
	}
	t.Logf("%d inputs compared, fast path answered %d (%.1f%%)", total, claimed, 100*float64(claimed)/float64(total))
	for _, r := range fastCoreRegions {
		share := float64(coreClaimed[r]) / float64(coreTotal[r])
		t.Logf("%s: fast path answered %d of %d example inputs", r, coreClaimed[r], coreTotal[r])
		if coreTotal[r] == 0 || share < 0.9 {
			t.Errorf("%s: fast path answered %d of %d example inputs, want at least 90%%", r, coreClaimed[r], coreTotal[r])
		}
	}
}

// FuzzFastE164 checks the fast path against the library on arbitrary text and regions.
func FuzzFastE164(f *testing.F) {
	regions := append(sortedRegions(), "")
	index := map[string]uint16{}
	for i, r := range regions {
		index[r] = uint16(i)
	}
	for _, c := range fastE164Cases {
		f.Add(c.raw, index[c.region])
	}
	f.Fuzz(func(t *testing.T, raw string, r uint16) {
		checkFastPhone(t, raw, regions[int(r)%len(regions)])
	})
}

// fastE164Cases are concrete numbers with NormalizePhone's answer, and whether the fast path
// gives it.
var fastE164Cases = []struct {
	raw, region, want string
	fast              bool
}{
	{"02079460958", "GB", "+442079460958", true},
	{"020 7946 0958", "GB", "+442079460958", true},
	{"(020) 7946-0958", "GB", "+442079460958", true},
	{"+44 20 7946 0958", "", "+442079460958", true},
	{"+44 (0)20 7946 0958", "US", "+442079460958", true},
	{"+44 020 7946 0958", "GB", "+442079460958", true},
	{"0044 20 7946 0958", "", "+442079460958", true},
	{"442079460958", "GB", "+442079460958", true},
	{"12345", "GB", "+4412345", true}, // a local-only length is possible
	{"4155550123", "US", "+14155550123", true},
	{"1 415 555 0123", "US", "+14155550123", true},
	{"(416) 555-0123", "CA", "+14165550123", true},
	{"1-416-555-0123", "CA", "+14165550123", true},
	{"06 1234 5678", "IT", "+390612345678", true},
	{"+39 06 1234 5678", "", "+390612345678", true},
	{"030 123456", "DE", "+4930123456", true},
	{"01 23 45 67 89", "FR", "+33123456789", true},
	{"+91 98765 43210", "IN", "+919876543210", true},
	{"087 123 4567", "IE", "+353871234567", true},
	{"0412 345 678", "AU", "+61412345678", true},
	{"06-12345678", "NL", "+31612345678", true},
	{"912 345 678", "ES", "+34912345678", true},
	{"+44 1", "GB", "+441", true},                           // national number too short
	{"+999 1234 5678", "", "+99912345678", true},            // no such calling code
	{"011 44 20 7946 0958", "US", "+442079460958", false},   // international prefix of the region
	{"+800 1234 5678", "", "+80012345678", false},           // non-geographic calling code
	{"+1 268 464 1234", "", "+12684641234", true},           // NANPA island read as +1 (US rules)
	{"464 1234", "AG", "+12684641234", false},               // transform rule: "268" prepended
	{"0011 44 20 7946 0958", "AU", "+11442079460958", true}, // "00" is read as the prefix, "11..." as +1
	{"+44 20 7946 0958 ext 12", "", "+442079460958", true},  // NormalizePhone cuts the extension
	{"+44 20 7946 0958 #", "", "+442079460958", true},       // and a "#"
	{"+44 20 7946 0958_", "", "+442079460958", false},       // not plain text
	{"020 7946 0958", "XX", "02079460958", false},           // unknown region
	{"+0044 20 7946 0958", "", "+442079460958", false},      // '+' then 00
	{"+1 800 555 0199", "", "+18005550199", true},
}

// TestFastE164Cases checks concrete numbers: NormalizePhone's answer, the library's, and
// whether the fast path gave it.
func TestFastE164Cases(t *testing.T) {
	for _, c := range fastE164Cases {
		s, digits, plus := phoneArgs(c.raw)
		if got := parsePhone(s, c.region, digits, plus); got != c.want {
			t.Errorf("parsePhone(%q, %q) = %q, want %q", s, c.region, got, c.want)
		}
		if got := libraryE164(s, c.region, digits, plus); got != c.want {
			t.Errorf("libraryE164(%q, %q) = %q, want %q", s, c.region, got, c.want)
		}
		if got, ok := fastAnswer(s, c.region, digits, plus); ok != c.fast || (ok && got != c.want) {
			t.Errorf("fast path on %q, %q = %q, %v; want %q, %v", s, c.region, got, ok, c.want, c.fast)
		}
	}
}

// BenchmarkNormalizePhoneUnique measures NormalizePhone's work on numbers it has not seen, its
// cache left out, once with the fast path (parsePhone) and once with the library alone
// (libraryE164). The numbers, 2^18 distinct ones, are example numbers of the core regions
// written nationally or internationally with separators, their last 6 digits varied; numbers
// already in E.164 form are left out (NormalizePhone answers them before parsing). fast% is
// the share the fast path answers itself.
func BenchmarkNormalizePhoneUnique(b *testing.B) {
	type tmpl struct{ raw, region string }
	var tmpls []tmpl
	for _, r := range fastCoreRegions {
		for _, ty := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE} {
			ex := phonenumbers.GetExampleNumberForType(r, ty)
			if ex == nil {
				continue
			}
			tmpls = append(tmpls, tmpl{phonenumbers.Format(ex, phonenumbers.NATIONAL), r},
				tmpl{phonenumbers.Format(ex, phonenumbers.INTERNATIONAL), r})
		}
	}
	// numbers returns n distinct numbers: each template with its last 6 digits replaced by a
	// counter.
	numbers := func(n int) []tmpl {
		out := make([]tmpl, n)
		for i := range out {
			t := tmpls[i%len(tmpls)]
			k := strconv.Itoa(1_000_000 + i/len(tmpls)%1_000_000)[1:]
			raw := []byte(t.raw)
			for j := len(raw) - 1; j >= 0 && k != ""; j-- {
				if raw[j] >= '0' && raw[j] <= '9' {
					raw[j] = k[len(k)-1]
					k = k[:len(k)-1]
				}
			}
			out[i] = tmpl{string(raw), t.region}
		}
		return out
	}
	in := numbers(1 << 18) // more distinct numbers than NormalizePhone's cache holds
	answered := 0
	for _, n := range in {
		s, digits, plus := phoneArgs(n.raw)
		if _, ok := fastAnswer(s, n.region, digits, plus); ok {
			answered++
		}
	}
	run := func(b *testing.B, parse func(s, region, digits string, plus bool) string) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			n := in[i%len(in)]
			if e164Fast(n.raw) != "" {
				continue
			}
			s := stripExtension(cleanRaw(n.raw))
			digits := digitsOf(s)
			plus := strings.HasPrefix(strings.TrimLeft(s, " ("), "+") || strings.HasPrefix(digits, "00")
			parse(s, n.region, digits, plus)
		}
	}
	b.Run("fast", func(b *testing.B) {
		run(b, parsePhone)
		b.ReportMetric(100*float64(answered)/float64(len(in)), "fast%")
	})
	b.Run("library", func(b *testing.B) { run(b, libraryE164) })
}
