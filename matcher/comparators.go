package matcher

import (
	"sort"
	"strings"
)

// kind is a comparator.
type kind uint8

const (
	kExact kind = iota
	kNormalized
	kJaroWinkler
	kLevenshtein
	kDamerau
	kPersonName
	kFirstName
	kLastName
	kEmail
	kPhone
	kCompany
	kAddress
	kDate
	kPostcode
	kIdentifier
	kWebsite
)

// comparatorInfo describes a comparator: its name and its evidence defaults.
type comparatorInfo struct {
	name   string
	weight float64 // default points for a full agreement (evidence scoring)
	floor  float64 // default similarity at or below which values disagree
	doc    string
}

var comparators = [...]comparatorInfo{
	kExact:       {"exact", 4, 0.5, "values equal after trimming, case-sensitive"},
	kNormalized:  {"normalized", 4, 0.5, "values equal after Unicode folding (case, accents, punctuation)"},
	kJaroWinkler: {"jarowinkler", 4, 0.8, "Jaro-Winkler similarity of the folded values"},
	kLevenshtein: {"levenshtein", 4, 0.7, "1 - Levenshtein distance / length, on the folded values"},
	kDamerau:     {"damerau", 4, 0.7, "1 - Damerau-Levenshtein (OSA) distance / length, on the folded values"},
	kPersonName:  {"personname", 12, 0.75, "full names: words in any order, nicknames, initials, phonetics, typos"},
	kFirstName:   {"firstname", 6, 0.75, "given names: nicknames (Bob ~ Robert), initials, phonetics, typos"},
	kLastName:    {"lastname", 8, 0.75, "family names: phonetics (Smyth ~ Smith), double-barrelled names, typos"},
	kEmail:       {"email", 14, 0.8, "addresses: case, whitespace, mailto:, optional provider rules; typos"},
	kPhone:       {"phone", 12, 0.7, "numbers compared in E.164 (libphonenumber), else as digits"},
	kCompany:     {"company", 10, 0.6, "organisation names: legal forms, &/and, the, punctuation, word order"},
	kAddress:     {"address", 10, 0.7, "street lines: street-type abbreviations, house and unit numbers"},
	kDate:        {"date", 10, 0.5, "dates in ISO, RFC 3339, WCF or YYYYMMDD form; typos, day/month swaps"},
	kPostcode:    {"postcode", 6, 0.5, "postal codes: letters and digits only; ZIP+4"},
	kIdentifier:  {"identifier", 16, 0.7, "identifiers (government id, account number): letters and digits only"},
	kWebsite:     {"website", 8, 0.5, "web addresses: host without scheme, www. and path; values without a dot are blank"},
}

// comparatorAliases are accepted spellings of comparator names.
var comparatorAliases = map[string]kind{
	"normalised": kNormalized, "jw": kJaroWinkler, "fullname": kPersonName, "name": kPersonName,
	"givenname": kFirstName, "surname": kLastName, "familyname": kLastName,
	"telephone": kPhone, "organisation": kCompany, "organization": kCompany,
	"zip": kPostcode, "postalcode": kPostcode, "id": kIdentifier, "url": kWebsite, "domain": kWebsite,
}

// parseComparator resolves a comparator name; case, '_' and '-' are ignored.
func parseComparator(s string) (kind, bool) {
	n := strings.ToLower(strings.NewReplacer("_", "", "-", "", " ", "").Replace(s))
	for k, c := range comparators {
		if c.name == n {
			return kind(k), true
		}
	}
	k, ok := comparatorAliases[n]
	return k, ok
}

// Comparators returns the comparator names Compile accepts, sorted.
func Comparators() []string {
	out := make([]string, 0, len(comparators))
	for _, c := range comparators {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// ComparatorDoc returns a one-line description of a comparator ("" if unknown).
func ComparatorDoc(name string) string {
	if k, ok := parseComparator(name); ok {
		return comparators[k].doc
	}
	return ""
}

// note says how two values compared; it becomes FieldResult.Note and a reason.
type note uint8

const (
	noteNone note = iota
	noteEqual
	noteNormalised
	noteNickname
	noteInitial
	notePhonetic
	noteSimilar
	notePartOf
	noteWordOrder
	noteSwapped
	noteSameMailbox
	noteLocalNumber
	noteOneDigit
	noteOneDay
	noteDayMonth
	noteHouseNumber
	noteUnit
	noteDateParts
	noteDifferent
)

var noteCodes = [...]string{
	noteNone: "", noteEqual: "equal", noteNormalised: "normalised", noteNickname: "nickname",
	noteInitial: "initial", notePhonetic: "phonetic", noteSimilar: "similar",
	notePartOf: "part-of", noteWordOrder: "word-order", noteSwapped: "swapped",
	noteSameMailbox: "same-mailbox", noteLocalNumber: "local-number", noteOneDigit: "one-digit",
	noteOneDay: "one-day", noteDayMonth: "day-month-swapped", noteHouseNumber: "house-number-differs",
	noteUnit: "unit-differs", noteDateParts: "two-of-three", noteDifferent: "different",
}

// value is one attribute normalised for one comparator. norm == "" means blank (missing or a
// placeholder): blank values neither match nor make keys.
type value struct {
	raw    string // the cleaned original, for explanations
	norm   string // comparison form
	alt    string // second form: compact name, email local part, phone digits, address street
	toks   []string
	ph1    string // Double Metaphone codes (names)
	ph2    string
	groups []int32 // nickname groups (first names)
	num    string  // address: house number; date: -
	unit   string  // address: unit number
	days   int32   // date: days since 0001-01-01 (0: not a valid date)
	ymd    [3]int16
	ph     bool // placeholder (norm was cleared)
}

// blank reports a missing or placeholder value.
func (v *value) blank() bool { return v.norm == "" }

// compare returns the similarity of a and b (both non-blank) and how they compared.
func (f *field) compare(lex *Lexicon, a, b *value) (float64, note) {
	return f.compareAbove(lex, a, b, 0)
}

// compareAbove is compare for a caller that needs only similarities of min or more: when the
// similarity is below min, a comparator that can tell early returns a lower one (0,
// different) without computing it. At or above min the result is compare's.
func (f *field) compareAbove(lex *Lexicon, a, b *value, min float64) (float64, note) {
	switch f.kind {
	case kExact:
		if a.norm == b.norm {
			return 1, noteEqual
		}
		return 0, noteDifferent
	case kNormalized, kPostcode, kIdentifier, kWebsite:
		if a.norm == b.norm {
			return 1, equalNote(a, b)
		}
		switch f.kind {
		case kPostcode:
			return postcodeSim(a.norm, b.norm)
		case kIdentifier:
			return identifierSim(a.norm, b.norm)
		}
		return 0, noteDifferent
	case kJaroWinkler, kLevenshtein, kDamerau:
		if a.norm == b.norm {
			return 1, equalNote(a, b)
		}
		var s float64
		switch f.kind {
		case kJaroWinkler:
			s = JaroWinkler(a.norm, b.norm)
		case kLevenshtein:
			s = LevenshteinSimilarity(a.norm, b.norm)
		default:
			s = DamerauSimilarity(a.norm, b.norm)
		}
		return s, f.simNote(s)
	case kFirstName:
		s, n := firstNameSim(a, b)
		return s, f.fix(s, n)
	case kLastName:
		s, n := lastNameSim(a, b)
		return s, f.fix(s, n)
	case kPersonName:
		s, n := personNameSim(lex, a, b)
		return s, f.fix(s, n)
	case kEmail:
		s, n := emailSim(a, b, min)
		return s, f.fix(s, n)
	case kPhone:
		s, n := phoneSim(a, b)
		return s, f.fix(s, n)
	case kCompany:
		s, n := companySim(a, b)
		return s, f.fix(s, n)
	case kAddress:
		s, n := addressSim(a, b, min)
		return s, f.fix(s, n)
	case kDate:
		s, n := dateSim(a, b)
		return s, f.fix(s, n)
	}
	return 0, noteDifferent
}

// equalNote distinguishes values equal as typed from values equal after normalisation.
func equalNote(a, b *value) note {
	if a.raw == b.raw {
		return noteEqual
	}
	return noteNormalised
}

func (f *field) simNote(s float64) note {
	if s <= f.floor {
		return noteDifferent
	}
	return noteSimilar
}

// fix marks similarities at or below the floor as different, whatever the comparator said.
func (f *field) fix(s float64, n note) note {
	if s <= f.floor && s < 1 {
		return noteDifferent
	}
	return n
}

// nameTokenSim compares two folded name words: equal, nickname, initial, phonetic or typo.
func nameTokenSim(lex *Lexicon, x, y string) (float64, note) {
	if x == y {
		return 1, noteEqual
	}
	if len(x) == 1 || len(y) == 1 {
		if x[0] == y[0] {
			return 0.85, noteInitial
		}
		return 0, noteDifferent
	}
	if sharesGroup(lex.groups(x), lex.groups(y)) {
		return 0.95, noteNickname
	}
	s := JaroWinkler(x, y)
	if s < 0.88 && s >= 0.6 && samePhonetic(x, y) {
		return 0.88, notePhonetic
	}
	return s, noteSimilar
}

func samePhonetic(x, y string) bool {
	a1, a2 := DoubleMetaphone(x)
	b1, b2 := DoubleMetaphone(y)
	return phoneticMatch(a1, a2, b1, b2)
}

func phoneticMatch(a1, a2, b1, b2 string) bool {
	if a1 == "" || b1 == "" {
		return false
	}
	return a1 == b1 || a1 == b2 || a2 == b1
}

func firstNameSim(a, b *value) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	if a.alt == b.alt {
		return 0.98, noteNormalised
	}
	// An initial against a name.
	if len(a.alt) == 1 || len(b.alt) == 1 {
		if a.alt[0] == b.alt[0] {
			return 0.85, noteInitial
		}
		return 0, noteDifferent
	}
	// "John Paul" ~ "John": the first given names agree.
	if len(a.toks) != len(b.toks) && a.toks[0] == b.toks[0] {
		return 0.9, notePartOf
	}
	if sharesGroup(a.groups, b.groups) {
		return 0.95, noteNickname
	}
	best, bn := JaroWinkler(a.alt, b.alt), noteSimilar
	if best < 0.88 && best >= 0.6 && phoneticMatch(a.ph1, a.ph2, b.ph1, b.ph2) {
		best, bn = 0.88, notePhonetic
	}
	return best, bn
}

func lastNameSim(a, b *value) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	if a.alt == b.alt {
		return 0.98, noteNormalised
	}
	best, bn := JaroWinkler(a.alt, b.alt), noteSimilar
	// Double-barrelled or compound names: "Smith" ~ "Smith-Jones".
	if best <= 0.9 && (len(a.toks) > 1 || len(b.toks) > 1) && tokensWithin(a.toks, b.toks) {
		best, bn = 0.9, notePartOf
	}
	if best < 0.88 && best >= 0.6 && phoneticMatch(a.ph1, a.ph2, b.ph1, b.ph2) {
		best, bn = 0.88, notePhonetic
	}
	return best, bn
}

// tokensWithin reports whether every token of the shorter list appears in the longer one.
func tokensWithin(x, y []string) bool {
	if len(x) > len(y) {
		x, y = y, x
	}
	if len(x) == 0 {
		return false
	}
	for _, t := range x {
		found := false
		for _, u := range y {
			if t == u {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// personNameSim aligns the words of two full names in any order.
func personNameSim(lex *Lexicon, a, b *value) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	if a.alt == b.alt {
		return 0.98, noteNormalised
	}
	x, y := a.toks, b.toks
	if len(x) > len(y) {
		x, y = y, x
	}
	var used [16]bool
	total := 0.0
	ordered := true
	lastJ := -1
	worst := noteEqual
	for i, t := range x {
		if i >= len(used) {
			break
		}
		bestS, bestJ, bestN := 0.0, -1, noteDifferent
		for j, u := range y {
			if j >= len(used) || used[j] {
				continue
			}
			s, n := nameTokenSim(lex, t, u)
			if s > bestS {
				bestS, bestJ, bestN = s, j, n
			}
		}
		if bestJ < 0 {
			continue
		}
		used[bestJ] = true
		if bestJ < lastJ {
			ordered = false
		}
		lastJ = bestJ
		total += bestS
		if bestN != noteEqual && (worst == noteEqual || bestS < 1) {
			worst = bestN
		}
	}
	s := total / float64(len(x))
	s *= 0.9 + 0.1*float64(len(x))/float64(len(y))
	switch {
	case !ordered && s > 0.8:
		return s, noteWordOrder
	case len(x) < len(y) && worst == noteEqual:
		return s, notePartOf
	case worst == noteEqual:
		return s, noteSimilar
	}
	return s, worst
}

// emailSim compares two addresses for a caller that needs min or more (field.compareAbove;
// 0: the exact similarity): the edit distance is bounded by min where it is tighter than the
// comparator's own 0.7.
func emailSim(a, b *value, min float64) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	la, da, _ := strings.Cut(a.norm, "@")
	lb, db, _ := strings.Cut(b.norm, "@")
	mailbox := la == lb && len(la) >= 4 && da != db
	floor := 0.7
	if min > floor && (!mailbox || min > 0.85) {
		floor = min // below it, the similarity (and the mailbox's 0.85) is of no use
	}
	s := damerauSimilarityAbove(a.norm, b.norm, floor)
	if mailbox && s < 0.85 {
		return 0.85, noteSameMailbox
	}
	return s, noteSimilar
}

func phoneSim(a, b *value) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	x, y := a.alt, b.alt // digits only
	if len(x) > len(y) {
		x, y = y, x
	}
	// One number written without its country or area code.
	if sameLocalNumber(x, y) {
		return 0.9, noteLocalNumber
	}
	if len(x) >= 7 && len(x) == len(y) && withinOneEdit(x, y) {
		return 0.75, noteOneDigit
	}
	return 0, noteDifferent
}

func postcodeSim(a, b string) (float64, note) {
	x, y := a, b
	if len(x) > len(y) {
		x, y = y, x
	}
	if len(x) >= 5 && strings.HasPrefix(y, x) { // ZIP vs ZIP+4
		return 0.95, notePartOf
	}
	if len(x) >= 4 && withinOneEdit(a, b) {
		return 0.7, noteOneDigit
	}
	return 0, noteDifferent
}

func identifierSim(a, b string) (float64, note) {
	// One typed character wrong or two swapped: still far rarer between different people
	// than agreement on any other attribute.
	if len(a) >= 5 && len(b) >= 5 && withinOneEdit(a, b) {
		return 0.88, noteOneDigit
	}
	return 0, noteDifferent
}

func companySim(a, b *value) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	if a.alt == b.alt {
		return 0.98, noteNormalised
	}
	s := JaroWinkler(a.alt, b.alt)
	n := noteSimilar
	if t, tn := tokenSetSim(a.toks, b.toks); t > s {
		s, n = t, tn
	}
	return s, n
}

// tokenSetSim compares two word lists regardless of order: words pair up when their
// Jaro-Winkler similarity is at least 0.9.
func tokenSetSim(x, y []string) (float64, note) {
	if len(x) == 0 || len(y) == 0 {
		return 0, noteDifferent
	}
	if len(x) > len(y) {
		x, y = y, x
	}
	var used [32]bool
	matched := 0.0
	ordered := true
	lastJ := -1
	for _, t := range x {
		bestS, bestJ := 0.0, -1
		for j, u := range y {
			if j >= len(used) || used[j] {
				continue
			}
			s := 1.0
			if t != u {
				s = JaroWinkler(t, u)
			}
			if s > bestS {
				bestS, bestJ = s, j
			}
		}
		if bestJ >= 0 && bestS >= 0.9 {
			used[bestJ] = true
			matched += bestS
			if bestJ < lastJ {
				ordered = false
			}
			lastJ = bestJ
		}
	}
	contain := matched / float64(len(x))
	jacc := matched / (float64(len(x)+len(y)) - matched)
	s := 0.5*contain + 0.5*jacc
	switch {
	case contain >= 0.99 && len(x) == len(y) && !ordered:
		return s, noteWordOrder
	case contain >= 0.99 && len(x) < len(y):
		return s, notePartOf
	}
	return s, noteSimilar
}

// addressSim compares two street lines for a caller that needs min or more
// (field.compareAbove; 0: the exact similarity): the house-number and unit factors bound the
// similarity before the streets are compared.
func addressSim(a, b *value, min float64) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	if min > 0 {
		bound := 1.0 // the most the factors below leave of a street similarity of 1
		switch {
		case a.num != "" && b.num != "" && a.num != b.num:
			bound = 0.55
			if withinOneEdit(a.num, b.num) {
				bound = 0.75
			}
		case (a.num == "") != (b.num == ""):
			bound = 0.88
		}
		if a.unit != "" && b.unit != "" && a.unit != b.unit {
			bound *= 0.75
		}
		if bound < min {
			return 0, noteDifferent
		}
	}
	street := 0.0
	switch {
	case a.alt != "" && b.alt != "":
		if a.alt == b.alt {
			street = 1
		} else {
			street = JaroWinkler(a.alt, b.alt)
			if t, _ := tokenSetSim(a.toks, b.toks); t > street {
				street = t
			}
		}
	default:
		street = JaroWinkler(compact(a.norm), compact(b.norm))
	}
	s := street
	n := noteSimilar
	switch {
	case a.num != "" && b.num != "" && a.num != b.num:
		if street >= 0.9 && withinOneEdit(a.num, b.num) {
			s *= 0.75
		} else {
			s *= 0.55
		}
		n = noteHouseNumber
	case a.num == "" || b.num == "":
		if a.num != b.num {
			s *= 0.88
		}
	}
	if a.unit != "" && b.unit != "" && a.unit != b.unit {
		s *= 0.75
		n = noteUnit
	}
	if s >= 0.999 {
		return 1, noteNormalised
	}
	return s, n
}

func dateSim(a, b *value) (float64, note) {
	if a.norm == b.norm {
		return 1, equalNote(a, b)
	}
	valid := a.days != 0 && b.days != 0
	if valid {
		d := a.days - b.days
		if d == 1 || d == -1 {
			return 0.8, noteOneDay
		}
		if a.ymd[0] == b.ymd[0] && a.ymd[1] == b.ymd[2] && a.ymd[2] == b.ymd[1] {
			return 0.8, noteDayMonth
		}
	}
	if len(a.norm) == len(b.norm) && withinOneEdit(a.norm, b.norm) {
		return 0.75, noteOneDigit
	}
	if valid {
		// Two of year, month and day agree: a mistyped part.
		same := 0
		for i := 0; i < 3; i++ {
			if a.ymd[i] == b.ymd[i] {
				same++
			}
		}
		if same == 2 {
			return 0.65, noteDateParts
		}
		// The same year and within a month or so.
		if a.ymd[0] == b.ymd[0] {
			if d := a.days - b.days; d <= 45 && d >= -45 {
				return 0.6, noteSimilar
			}
		}
	}
	return 0, noteDifferent
}
