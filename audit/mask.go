package audit

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Masking keeps the structure of a reason and drops the values it quotes. It works by
// allow-list, so that an explanation phrasing nobody foresaw loses words rather than leaks
// them: a word survives only if it is part of the explanation vocabulary below, an attribute
// name, a comparison symbol or a score, and never when it is one of the checked record's
// values or a word of a matched record's name. Everything else — names, emails, phone numbers,
// dates, addresses — is removed.

// vocabulary is the set of words explanations are made of (lower case).
var vocabulary = func() map[string]bool {
	words := strings.Fields(`
		a an the of in on at to from with without and or not no by as is are was be than
		one two both either neither only all any same other
		first last middle full given family maiden name names surname forename initial initials
		email e-mail mail address addresses line phone telephone mobile fax number numbers
		company organisation organization account business legal corporate city town postcode
		zip postal code country region state province county birth birthdate date dob day month
		year gender title salutation website web url domain job
		equal equals identical exact exactly same match matches matched matching similar
		similarity close near nearly after before normalisation normalization normalised
		normalized nickname nicknames alias abbreviation abbreviated sounds sound alike like
		phonetic phonetically metaphone soundex typo typos transposed transposition swapped
		swap order reversed differ differs different distance edit edits character characters
		letter letters digit digits suffix suffixes prefix extension national international
		local part missing empty blank value values case accents accent punctuation spacing
		whitespace formatting format token tokens set sorted overlap overlapping jaccard
		jaro winkler jaro-winkler levenshtein damerau score weight required strong key keys
		concurrent save record records progress existing new contains contained containing
		ignoring ignored removed dropped stripped trimmed
		exact normalized personname firstname lastname company address date`)
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}()

var (
	scoreRe   = regexp.MustCompile(`^(?:[01]?\.\d+|\d{1,3}(?:\.\d+)?%)$`)
	symbolRe  = regexp.MustCompile(`^(?:~|≈|=|==|!=|≠|<>|->|→|vs\.?|/|\+|&|-|–|—)$`)
	emptyPar  = regexp.MustCompile(`[(\[]\s*[)\]]`)
	spaceRe   = regexp.MustCompile(`\s+`)
	spacePunc = regexp.MustCompile(`\s+([,;:)\]])`)
	openSpace = regexp.MustCompile(`([(\[])\s+`)
	openPunc  = regexp.MustCompile(`([(\[])[,;:]+`)
	dupPunc   = regexp.MustCompile(`([,;:])(?:\s*[,;:])+`)
)

type masker struct {
	attrs    map[string]bool // attribute names: safe
	personal map[string]bool // values of the checked and matched records: never safe
}

// newMasker learns the attribute names and the personal values of one decision.
func newMasker(rec matcher.Record, ms []rules.Match) *masker {
	mk := &masker{attrs: map[string]bool{}, personal: map[string]bool{}}
	addValue := func(v string) {
		for _, w := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '@' && r != '.' && r != '-' && r != '\''
		}) {
			w = strings.Trim(w, ".-'")
			if len([]rune(w)) >= 2 {
				mk.personal[w] = true
			}
		}
	}
	for k, v := range rec.Attrs {
		mk.attrs[strings.ToLower(k)] = true
		addValue(v)
	}
	for _, m := range ms {
		addValue(m.Name)
		for _, f := range m.Fields {
			mk.attrs[strings.ToLower(f.Attr)] = true
		}
	}
	return mk
}

// mask returns s with every word that is not safe removed, and the punctuation tidied.
func (mk *masker) mask(s string) string {
	if s == "" {
		return s
	}
	toks := strings.Fields(s)
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		lead := strings.IndexFunc(t, func(r rune) bool { return !strings.ContainsRune(`("'[`, r) })
		if lead < 0 {
			out = append(out, t)
			continue
		}
		trail := strings.LastIndexFunc(t, func(r rune) bool { return !strings.ContainsRune(`)"'],;:`, r) })
		if trail < lead { // brackets and quotes only
			out = append(out, t)
			continue
		}
		_, size := utf8.DecodeRuneInString(t[trail:])
		pre, core, post := t[:lead], t[lead:trail+size], t[trail+size:]
		if mk.safe(core) {
			out = append(out, t)
		} else if rest := strings.Trim(pre+post, `"'`); rest != "" {
			// The value is gone; keep the brackets and separators around it, not its quotes.
			out = append(out, rest)
		}
	}
	r := strings.Join(out, " ")
	for prev := ""; prev != r; {
		prev = r
		r = openSpace.ReplaceAllString(r, "$1")
		r = openPunc.ReplaceAllString(r, "$1")
		r = spacePunc.ReplaceAllString(r, "$1")
		r = emptyPar.ReplaceAllString(r, "")
		r = dupPunc.ReplaceAllString(r, "$1")
		r = spaceRe.ReplaceAllString(r, " ")
		r = strings.Trim(r, " ,;:")
	}
	return r
}

func (mk *masker) safe(word string) bool {
	w := strings.ToLower(word)
	if mk.personal[w] {
		return false
	}
	if symbolRe.MatchString(w) || scoreRe.MatchString(w) || mk.attrs[w] {
		return true
	}
	if vocabulary[w] {
		return true
	}
	// Hyphenated or slashed compounds of safe words ("jaro-winkler", "e-mail", "first/last").
	parts := strings.FieldsFunc(w, func(r rune) bool { return r == '-' || r == '/' })
	if len(parts) > 1 {
		for _, p := range parts {
			if !vocabulary[p] && !mk.attrs[p] {
				return false
			}
		}
		return true
	}
	return false
}

// Mask applies masking to a reason text given the checked record and its matches: the
// function the trail uses, exported for callers (follow-up actions) that write their own
// entries.
func Mask(reason string, rec matcher.Record, ms []rules.Match) string {
	return newMasker(rec, ms).mask(reason)
}
