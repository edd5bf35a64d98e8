package matcher

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// The fast path of parsePhone. phonenumbers.Parse spends most of its ~10 µs on generic
// regular expressions (the unanchored extension pattern, the viability pattern, the search for
// a possible number) that tell nothing new about a number written with digits and common
// separators only. fastE164 replays the rest of the library's reading of such a number
// (country calling code, international prefix, national prefix, possible lengths) with the
// library's own metadata and a few anchored expressions per region, and returns exactly what
// the library path (libraryE164) returns. Whatever it does not mirror step for step it leaves
// to the library: TestFastE164MatchesLibrary and FuzzFastE164 hold it to that.

// Limits the library applies to a national significant number (MIN_LENGTH_FOR_NSN,
// MAX_LENGTH_FOR_NSN) and to a country calling code (MAX_LENGTH_COUNTRY_CODE).
const (
	minNSNLength = 2
	maxNSNLength = 17
	maxCCLength  = 3
)

// maxPlainPhoneLen bounds the text the fast path reads: far above any real number written
// with separators, far below the library's own limit on its input (250 bytes).
const maxPlainPhoneLen = 64

// plainPhoneDigits reports whether parsePhone(s, region, digits, plus) can be answered by
// fastE164, and with which digits: those the library reads after the international prefix
// when plus is set ("+" or "00"), else all of them. s must consist of ASCII digits and the
// separators space, '-', '.', '(', ')' and '/' only, with at most one '+' as its first byte,
// and digits must be its digits. For such text the library's extraction steps are neutral:
// the possible number starts at the first digit or the '+', no extension pattern can match
// (every one needs a letter, '#', ',', ';' or '~'), trailing separators change nothing whether
// cut or not, at least three digits make it viable, and normalising keeps exactly the digits.
// ok is false for any other text, and for a call whose plus disagrees with s (parsePhone
// called with a plus that NormalizePhone would not have computed), which the library reads
// otherwise.
func plainPhoneDigits(s, digits string, plus bool) (d string, ok bool) {
	if len(s) == 0 || len(s) > maxPlainPhoneLen {
		return "", false
	}
	j := 0 // digits matched so far
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if j >= len(digits) || digits[j] != c {
				return "", false
			}
			j++
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		case c == '+' && i == 0:
		default:
			return "", false
		}
	}
	if j != len(digits) {
		return "", false
	}
	lead00 := len(digits) >= 2 && digits[0] == '0' && digits[1] == '0'
	switch {
	case s[0] == '+':
		if !plus {
			return "", false // the library would read it as international all the same
		}
		return digits, true // the library reads s itself, without a region
	case lead00:
		if !plus {
			return "", false // parsePhone gives the library "+"+digits[2:] all the same
		}
		return digits[2:], true // parsePhone gives the library "+"+digits[2:]
	case plus:
		return "", false // international without any sign of it in s: not NormalizePhone's call
	}
	return digits, true
}

// fastE164 returns what libraryE164 returns for a number written with digits and separators
// only (see plainPhoneDigits), without running phonenumbers.Parse. d holds the number's digits:
// with plus, those after the international prefix ("+" or "00"), read without a region as the
// library does; without plus, all of them, read as a national number of region (an ISO code
// the library supports). The result is the E.164 form when the library finds a possible
// number, else the digits as parsePhone returns them ("+"+d with plus, d without).
//
// ok is false when fastE164 cannot vouch for the library's answer and the caller must ask the
// library: fewer than 3 or more than 32 digits, an unsupported region, an international number
// whose digits start with 0, a non-geographic calling code (+800, +882...), a region whose
// national prefix rule rewrites the number (NANPA islands, AR, BR, JP...) or whose metadata
// lacks a pattern or possible lengths, a national number that starts with the region's
// international prefix ("011..." in the US), and a national prefix match in which a capturing
// group (a carrier code) takes part.
func fastE164(d string, plus bool, region string) (string, bool) {
	if len(d) < 3 || len(d) > 32 {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	if plus {
		return fastInternational(d)
	}
	return fastNational(d, region)
}

// fastInternational reads d, the digits after a '+', as the library does with no region: the
// first prefix of 1 to 3 digits that is a calling code is the code (calling codes are
// prefix-free), and the rest is read with the metadata of the code's main region.
func fastInternational(d string) (string, bool) {
	if d[0] == '0' {
		return "", false // the library fails here, but parsePhone's answer depends on how s was written
	}
	codes := phonenumbers.GetSupportedCallingCodes()
	for n := 1; n <= maxCCLength && n <= len(d); n++ {
		cc, _ := strconv.Atoi(d[:n])
		if !codes[cc] {
			continue
		}
		p := planForRegion(phonenumbers.GetRegionCodeForCountryCode(cc))
		if p == nil {
			return "", false
		}
		return finishE164(cc, d[n:], p, p, d, true)
	}
	return failedE164(d, true) // "invalid country code"
}

// fastNational reads d as a national number of region, as the library does when given a
// default region and a number without '+': unless it starts with the region's international
// prefix, it may start with the region's calling code, which is dropped when that makes a
// valid national number of an invalid one, or when d is too long for the region.
func fastNational(d, region string) (string, bool) {
	if !phonenumbers.GetSupportedRegions()[region] {
		return "", false
	}
	home := planForRegion(region)
	if home == nil {
		return "", false
	}
	if end, _ := home.idd.find(d); end >= 0 {
		return "", false // the library reads it as dialled from abroad (when no 0 follows)
	}
	// The library reads a national number with the default region's metadata, unless it cuts
	// a calling code off, and judges possibility with the code's main region (US for CA).
	main := home
	if r := phonenumbers.GetRegionCodeForCountryCode(home.cc); r != region {
		if main = planForRegion(r); main == nil {
			return "", false
		}
	}
	national, parsing := d, home
	if len(d) >= len(home.ccDigits) && d[:len(home.ccDigits)] == home.ccDigits {
		rest, ok := home.stripNationalPrefix(d[len(home.ccDigits):])
		if !ok {
			return "", false
		}
		fullValid := home.nsn.MatchString(d)
		restValid := home.nsn.MatchString(rest)
		if (!fullValid && restValid) || home.lengthResult(len(d)) == phonenumbers.TOO_LONG {
			national, parsing = rest, main // "4420..." for GB, "1416..." for CA
		}
	}
	return finishE164(home.cc, national, parsing, main, d, false)
}

// finishE164 is the end of the library's reading once the calling code cc is known: the
// national prefix is stripped with parsing's metadata when what remains has a possible length,
// the national number's length is checked, and IsPossibleNumber judges it with checking's
// metadata. d and plus are fastE164's arguments, for its answer when the library fails.
// The national significant number is the national number itself: the library keeps its
// leading zeros as "Italian leading zeros" and writes them back.
func finishE164(cc int, national string, parsing, checking *phonePlan, d string, plus bool) (string, bool) {
	if len(national) < minNSNLength {
		return failedE164(d, plus)
	}
	stripped, ok := parsing.stripNationalPrefix(national)
	if !ok {
		return "", false
	}
	switch parsing.lengthResult(len(stripped)) {
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
		// keep the national prefix: the number may be a short one
	default:
		national = stripped
	}
	if len(national) < minNSNLength || len(national) > maxNSNLength {
		return failedE164(d, plus)
	}
	switch checking.lengthResult(len(national)) {
	case phonenumbers.IS_POSSIBLE, phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		var buf [1 + maxCCLength + maxNSNLength]byte
		out := strconv.AppendInt(append(buf[:0], '+'), int64(cc), 10)
		return string(append(out, national...)), true
	}
	return failedE164(d, plus)
}

// failedE164 is parsePhone's answer when the library fails to parse a number or finds it not
// possible: its digits, after a '+' when it was international.
func failedE164(d string, plus bool) (string, bool) {
	if plus {
		return "+" + d, true
	}
	return d, true
}

// phonePlan is what the fast path needs of one region's metadata, compiled once.
type phonePlan struct {
	cc        int
	ccDigits  string
	nsn       *regexp.Regexp  // the general national number pattern, matched as a whole
	trunk     anchoredPattern // the national prefix for parsing; re is nil when there is none
	idd       anchoredPattern // the international prefix
	lengths   []int32         // possible lengths of a national number, as the metadata lists them
	localOnly []int32         // lengths possible for local dialling only
}

// stripNationalPrefix mirrors the library's maybeStripNationalPrefixAndCarrierCode for a
// region without a transform rule: a national prefix at the start of number is dropped, unless
// number matches the national number pattern and the rest does not. ok is false when a
// capturing group (a carrier code) took part in the prefix match: the fast path leaves those
// to the library.
func (p *phonePlan) stripNationalPrefix(number string) (string, bool) {
	if number == "" || p.trunk.re == nil {
		return number, true
	}
	end, group := p.trunk.find(number)
	if end < 0 {
		return number, true
	}
	if group {
		return "", false
	}
	rest := number[end:]
	if p.nsn.MatchString(number) && !p.nsn.MatchString(rest) {
		return number, true
	}
	return rest, true
}

// lengthResult mirrors the library's testNumberLength for the general description (the
// number type UNKNOWN, as Parse and IsPossibleNumber use it) on a national number of n digits.
func (p *phonePlan) lengthResult(n int) phonenumbers.ValidationResult {
	if p.lengths[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	l := int32(n)
	for _, v := range p.localOnly {
		if v == l {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
		}
	}
	switch {
	case p.lengths[0] == l:
		return phonenumbers.IS_POSSIBLE
	case p.lengths[0] > l:
		return phonenumbers.TOO_SHORT
	case p.lengths[len(p.lengths)-1] < l:
		return phonenumbers.TOO_LONG
	}
	for _, v := range p.lengths[1:] {
		if v == l {
			return phonenumbers.IS_POSSIBLE
		}
	}
	return phonenumbers.INVALID_LENGTH
}

var (
	phoneMetaOnce sync.Once
	phoneMeta     map[string]*phonenumbers.PhoneMetadata // by region; non-geographic entities left out
	phonePlans    sync.Map                               // region -> *phonePlan, nil for a region left to the library
)

// planForRegion returns the compiled plan of a region ("GB"), built on first use, or nil when
// the region is unknown or its metadata needs logic the fast path does not mirror: the
// non-geographic "001", a national prefix transform rule, no national number pattern, no
// possible lengths, or a pattern Go cannot compile.
func planForRegion(region string) *phonePlan {
	if v, ok := phonePlans.Load(region); ok {
		return v.(*phonePlan)
	}
	phoneMetaOnce.Do(func() {
		phoneMeta = map[string]*phonenumbers.PhoneMetadata{}
		coll, err := phonenumbers.MetadataCollection()
		if err != nil {
			return // no plans at all: every number goes through the library
		}
		for _, m := range coll.GetMetadata() {
			if id := m.GetId(); id != "001" {
				phoneMeta[id] = m
			}
		}
	})
	m := phoneMeta[region]
	if m == nil {
		return nil // not cached: region may be any caller's string
	}
	p := buildPhonePlan(m)
	v, _ := phonePlans.LoadOrStore(region, p)
	return v.(*phonePlan)
}

// buildPhonePlan compiles a region's plan, or returns nil when the region is left to the
// library (see planForRegion).
func buildPhonePlan(m *phonenumbers.PhoneMetadata) *phonePlan {
	general := m.GetGeneralDesc()
	if m.GetNationalPrefixTransformRule() != "" || general.GetNationalNumberPattern() == "" ||
		len(general.GetPossibleLength()) == 0 || m.GetCountryCode() <= 0 {
		return nil
	}
	nsn, err := regexp.Compile("^(?:" + general.GetNationalNumberPattern() + ")$")
	if err != nil {
		return nil
	}
	p := &phonePlan{
		cc:        int(m.GetCountryCode()),
		ccDigits:  strconv.Itoa(int(m.GetCountryCode())),
		nsn:       nsn,
		lengths:   general.GetPossibleLength(),
		localOnly: general.GetPossibleLengthLocalOnly(),
	}
	if npp := m.GetNationalPrefixForParsing(); npp != "" {
		if p.trunk, err = newAnchoredPattern(npp); err != nil {
			return nil
		}
	}
	// An empty international prefix matches every number, which then always falls back.
	if p.idd, err = newAnchoredPattern(m.GetInternationalPrefix()); err != nil {
		return nil
	}
	return p
}
