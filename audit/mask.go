package audit

import (
	"strings"
	"sync"
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
//
// The masking runs on the audit writer for every reason of every entry, so it is written as
// plain scanning over bytes with buffers reused from a pool, rather than with regular
// expressions. Its output is held byte for byte equal to the original regexp-based masking
// (kept in mask_ref_test.go) by a differential test and a fuzz target.

// vocabularyWords are the words explanations are made of (lower case).
const vocabularyWords = `
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
		exact normalized personname firstname lastname company address date`

// symbolWords are the comparison symbols a reason may use between two values.
const symbolWords = `~ ≈ = == != ≠ <> -> → vs vs. / + & - – —`

// Classes of the words in safeWords.
const (
	classVocab  = 1 << iota // an explanation word: safe alone and as a part of a compound
	classSymbol             // a comparison symbol: safe alone only
)

// safeWords are the words that are safe by themselves, with their classes.
var safeWords = func() *wordTable {
	m := map[string]uint8{}
	for _, w := range strings.Fields(vocabularyWords) {
		m[w] |= classVocab
	}
	for _, w := range strings.Fields(symbolWords) {
		m[w] |= classSymbol
	}
	return newWordTable(m)
}()

// wordTable is a fixed set of words with their classes: an open-addressing hash table, which
// looks up the few-byte words of reasons several times faster than a map. Its words are
// constants, so no input can make its probe sequences longer.
type wordTable struct {
	words []string
	class []uint8
	mask  uint32
}

func newWordTable(m map[string]uint8) *wordTable {
	n := 1
	for n < 4*len(m) {
		n <<= 1
	}
	t := &wordTable{words: make([]string, n), class: make([]uint8, n), mask: uint32(n - 1)}
	for w, c := range m {
		i := fnv1a([]byte(w)) & t.mask
		for t.words[i] != "" {
			i = (i + 1) & t.mask
		}
		t.words[i], t.class[i] = w, c
	}
	return t
}

// get returns the classes of w, 0 when w is not in the table.
func (t *wordTable) get(w []byte) uint8 {
	for i := fnv1a(w) & t.mask; ; i = (i + 1) & t.mask {
		k := t.words[i]
		if k == "" {
			return 0
		}
		if string(w) == k {
			return t.class[i]
		}
	}
}

// fnv1a is the 32-bit FNV-1a hash of b.
func fnv1a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// masker masks the reasons of one decision: it knows the decision's attribute names (safe)
// and personal values (never safe), and carries scratch buffers reused across reasons and,
// through maskers, across decisions.
type masker struct {
	attrs    map[string]struct{} // attribute names, lower case: safe
	attrLens uint64              // bit len%64 is set for the length of every attribute name
	// personal are the words of the checked record's values and of the matched records' names
	// that would be safe but for being personal. The other personal words need no keeping:
	// they are not safe anyway. Usually empty.
	personal map[string]struct{}
	values   []byte // the decision's values, lower-cased, space-separated
	buf      []byte // the reasons being masked
	ends     []int  // where each masked reason ends in buf (-1: unchanged)
	low      []byte // the word being judged, lower-cased
}

// maskers recycles maskers, so that masking a decision allocates next to nothing.
var maskers = sync.Pool{New: func() any {
	return &masker{attrs: make(map[string]struct{}, 16), personal: map[string]struct{}{}}
}}

// Maskers that grew past these sizes on an unusual decision are left to the collector rather
// than pooled, so that one huge record does not make every later decision pay to clear it.
const (
	maxPooledWords = 512
	maxPooledBuf   = 16 << 10
)

// newMasker learns the attribute names and the personal values of one decision. Give the
// masker back with release once its results are taken.
func newMasker(rec matcher.Record, ms []rules.Match) *masker {
	mk := maskers.Get().(*masker)
	// The values are gathered first and split once every attribute name is known: which
	// personal words matter depends on them.
	values := mk.values[:0]
	for k, v := range rec.Attrs {
		mk.addAttr(k)
		values = append(appendLower(values, v), ' ') // the space keeps words of different values apart
	}
	for _, m := range ms {
		for _, f := range m.Fields {
			mk.addAttr(f.Attr)
		}
		values = append(appendLower(values, m.Name), ' ')
	}
	mk.values = values
	mk.addPersonal(values)
	return mk
}

// release clears mk of the decision's names and values and puts it back in the pool, so that
// the pool holds no personal data. The strings mask returned stay valid: they never share
// memory with the masker.
func (mk *masker) release() {
	if len(mk.personal)+len(mk.attrs) > maxPooledWords || cap(mk.buf)+cap(mk.values)+cap(mk.low)+8*cap(mk.ends) > maxPooledBuf {
		return
	}
	clear(mk.attrs)
	mk.attrLens = 0
	clear(mk.personal)
	clear(mk.values[:cap(mk.values)])
	clear(mk.buf[:cap(mk.buf)])
	clear(mk.low[:cap(mk.low)])
	maskers.Put(mk)
}

func (mk *masker) addAttr(k string) {
	if needsLower(k) {
		k = strings.ToLower(k)
	}
	mk.attrs[k] = struct{}{}
	mk.attrLens |= 1 << (len(k) % 64)
}

// addPersonal learns the personal words of the lower-case values s (strings.ToLower's
// output, so valid UTF-8): every run of letters, digits, '@', '.', '-' and apostrophes,
// trimmed of '.', '-' and apostrophes, if two runes or more are left. It keeps those that
// safeWord would let through.
func (mk *masker) addPersonal(s []byte) {
	for i := 0; i < len(s); {
		for i < len(s) {
			r, n := decodeRune(s, i)
			if valueRune(r) {
				break
			}
			i += n
		}
		j := i
		for j < len(s) {
			if byteClass[s[j]]&bValue != 0 {
				j++
				continue
			}
			r, n := decodeRune(s, j)
			if !valueRune(r) {
				break
			}
			j += n
		}
		a, b := i, j
		for a < b && isValuePunc(s[a]) {
			a++
		}
		for b > a && isValuePunc(s[b-1]) {
			b--
		}
		if w := s[a:b]; len(w) >= 2 && (len(w) >= 2*utf8.UTFMax || utf8.RuneCount(w) >= 2) && mk.safeWord(w) {
			mk.personal[string(w)] = struct{}{}
		}
		i = j
	}
}

func isValuePunc(c byte) bool { return c == '.' || c == '-' || c == '\'' }

// valueRune reports whether r belongs to a word of a personal value.
func valueRune(r rune) bool {
	if r < utf8.RuneSelf {
		return byteClass[r]&bValue != 0
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// decodeRune is utf8.DecodeRune(s[i:]) with the ASCII case inline.
func decodeRune(s []byte, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRune(s[i:])
}

// Byte classes of ASCII characters, as bits of byteClass.
const (
	bSpace   = 1 << iota // white space for strings.Fields: \t \n \v \f \r and space
	bRESpace             // white space for a regexp's \s: \t \n \f \r and space
	bLead                // may open a token around a word: ( " ' [
	bTrail               // may close a token around a word: ) " ' ] , ; :
	bOpen                // ( [
	bClose               // ) ]
	bPunc                // , ; :
	bValue               // letter, digit, @ . - ': part of a word of a personal value
)

// byteClass gives the classes of every byte; bytes of multi-byte UTF-8 have none.
var byteClass = func() (t [256]uint8) {
	set := func(chars string, bit uint8) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= bit
		}
	}
	set("\t\n\v\f\r ", bSpace)
	set("\t\n\f\r ", bRESpace)
	set(`("'[`, bLead)
	set(`)"'],;:`, bTrail)
	set("([", bOpen)
	set(")]", bClose)
	set(",;:", bPunc)
	set("@.-'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", bValue)
	return t
}()

// is reports whether byte c is an ASCII character of class bit.
func is(c byte, bit uint8) bool { return byteClass[c]&bit != 0 }

// needsLower reports whether strings.ToLower could change s (or replace invalid UTF-8 in it).
func needsLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// appendLower appends strings.ToLower(s) to dst: every rune mapped by unicode.ToLower, and
// every byte of invalid UTF-8 replaced by U+FFFD as strings.ToLower replaces it.
func appendLower(dst []byte, s string) []byte {
	start := len(dst)
	dst = append(dst, s...)
	b := dst[start:]
	for i, c := range b {
		if c >= utf8.RuneSelf {
			dst = dst[:start]
			for _, r := range s {
				dst = utf8.AppendRune(dst, unicode.ToLower(r))
			}
			return dst
		}
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// mask returns s with every word that is not safe removed, and the punctuation tidied.
func (mk *masker) mask(s string) string {
	buf, same := mk.appendMask(mk.buf[:0], s)
	mk.buf = buf
	if same {
		return s
	}
	return string(buf)
}

// maskMatches masks the reasons of every match, in order, into one slice (of exactly their
// number). The masked texts share one string, rather than taking an allocation each.
func (mk *masker) maskMatches(ms []rules.Match) []string {
	n := 0
	for _, m := range ms {
		n += len(m.Reasons)
	}
	out := make([]string, n)
	buf, ends := mk.buf[:0], mk.ends[:0]
	for _, m := range ms {
		for _, r := range m.Reasons {
			start := len(buf)
			var same bool
			if buf, same = mk.appendMask(buf, r); same {
				buf = buf[:start]
				ends = append(ends, -1)
			} else {
				ends = append(ends, len(buf))
			}
		}
	}
	text := string(buf)
	i, start := 0, 0
	for _, m := range ms {
		for _, r := range m.Reasons {
			if end := ends[i]; end < 0 {
				out[i] = r
			} else {
				out[i] = text[start:end]
				start = end
			}
			i++
		}
	}
	mk.buf, mk.ends = buf, ends
	return out
}

// appendMask appends the masking of s to dst; same reports that it is s unchanged.
//
// s is split into tokens at white space (as strings.Fields splits it). A token is a word
// with brackets and quotes before it and brackets, quotes and separators after it; a safe
// word keeps its token whole, any other loses the word and its quotes. The tokens left are
// joined by single spaces and tidied (see tidy).
func (mk *masker) appendMask(dst []byte, s string) ([]byte, bool) {
	if s == "" {
		return dst, true
	}
	start := len(dst)
	for i := skipSpace(s, 0); i < len(s); {
		j := skipWord(s, i)
		dst = mk.appendToken(dst, len(dst) > start, s[i:j])
		i = skipSpace(s, j)
	}
	dst = dst[:start+len(tidy(dst[start:]))]
	return dst, string(dst[start:]) == s
}

// skipSpace returns the index of the first rune at or after i that is not white space
// (unicode.IsSpace, which strings.Fields splits at), or len(s).
func skipSpace(s string, i int) int {
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if byteClass[c]&bSpace == 0 {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			return i
		}
		i += size
	}
	return i
}

// skipWord returns the index of the first rune at or after i that is white space, or len(s).
// Invalid UTF-8 is not white space.
func skipWord(s string, i int) int {
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if byteClass[c]&bSpace != 0 {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			return i
		}
		i += size
	}
	return i
}

// appendToken appends what is left of token t to buf, after a space if sep.
func (mk *masker) appendToken(buf []byte, sep bool, t string) []byte {
	lead := 0
	for lead < len(t) && is(t[lead], bLead) {
		lead++
	}
	end := len(t)
	for end > lead && is(t[end-1], bTrail) {
		end--
	}
	// A token of brackets and quotes only is kept; so is one whose word is all separators.
	if lead == len(t) || end == lead || mk.safe(t[lead:end]) {
		if sep {
			buf = append(buf, ' ')
		}
		return append(buf, t...)
	}
	// The value is gone; keep the brackets and separators around it, not its quotes.
	mark := len(buf)
	if sep {
		buf = append(buf, ' ')
	}
	start := len(buf)
	buf = append(buf, t[:lead]...)
	buf = append(buf, t[end:]...)
	i, j := start, len(buf)
	for i < j && (buf[i] == '"' || buf[i] == '\'') {
		i++
	}
	for j > i && (buf[j-1] == '"' || buf[j-1] == '\'') {
		j--
	}
	if i == j {
		return buf[:mark]
	}
	return buf[:start+copy(buf[start:], buf[i:j])]
}

// safe reports whether word may stay: it is a vocabulary word, a symbol, a score, an
// attribute name or a compound of vocabulary words and attribute names joined by '-' or
// '/', and not a personal word.
func (mk *masker) safe(word string) bool {
	mk.low = appendLower(mk.low[:0], word)
	w := mk.low
	if !mk.safeWord(w) {
		return false
	}
	if len(mk.personal) == 0 {
		return true
	}
	_, personal := mk.personal[string(w)]
	return !personal
}

// safeWord is safe without the personal words.
func (mk *masker) safeWord(w []byte) bool {
	if safeWords.get(w) != 0 || isScore(w) || mk.isAttr(w) {
		return true
	}
	// Hyphenated or slashed compounds of safe words ("jaro-winkler", "e-mail", "first/last").
	parts := 0
	for i := 0; i < len(w); {
		for i < len(w) && (w[i] == '-' || w[i] == '/') {
			i++
		}
		j := i
		for j < len(w) && w[j] != '-' && w[j] != '/' {
			j++
		}
		if j > i {
			if j-i == len(w) {
				return false // no '-' or '/': not a compound
			}
			if p := w[i:j]; safeWords.get(p)&classVocab == 0 && !mk.isAttr(p) {
				return false
			}
			parts++
		}
		i = j
	}
	return parts > 1
}

// isAttr reports whether w is one of the decision's attribute names.
func (mk *masker) isAttr(w []byte) bool {
	if mk.attrLens&(1<<(len(w)%64)) == 0 {
		return false
	}
	_, ok := mk.attrs[string(w)]
	return ok
}

// isScore reports whether w is a score: a fraction such as 0.93 or .93 (with at most a 0 or
// 1 before the point), or a percentage such as 92% or 92.5% (at most three digits before
// any point).
func isScore(w []byte) bool {
	if len(w) < 2 {
		return false
	}
	if w[len(w)-1] == '%' {
		w = w[:len(w)-1]
		i := 0
		for i < len(w) && isDigit(w[i]) {
			i++
		}
		if i < 1 || i > 3 {
			return false
		}
		if i == len(w) {
			return true
		}
		return w[i] == '.' && allDigits(w[i+1:])
	}
	if w[0] == '0' || w[0] == '1' {
		w = w[1:]
	}
	return len(w) > 0 && w[0] == '.' && allDigits(w[1:])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// allDigits reports whether w is one or more ASCII digits.
func allDigits(w []byte) bool {
	for _, c := range w {
		if !isDigit(c) {
			return false
		}
	}
	return len(w) > 0
}

// tidy removes the punctuation the removed words left behind, in place, repeating its steps
// until they change nothing:
//   - white space and separators (, ; :) right after an opening bracket;
//   - white space right before a separator or a closing bracket;
//   - empty bracket pairs, "()" or "( )" (any of ( [ with any of ) ]);
//   - a run of separators (with white space between them) down to its first;
//   - runs of white space down to one space;
//   - spaces and separators at both ends.
//
// White space here is ASCII (\t \n \f \r and space); each step is the regexp replacement of
// the original masking (see mask_ref_test.go), in the same order.
func tidy(b []byte) []byte {
	if !needsTidy(b) {
		return b
	}
	return tidySteps(b)
}

// tidySteps is tidy without the check that there is anything to do.
func tidySteps(b []byte) []byte {
	for {
		var c, changed bool
		b, c = dropAfterOpen(b, bRESpace)
		changed = changed || c
		b, c = dropAfterOpen(b, bPunc)
		changed = changed || c
		b, c = dropSpaceBeforeClose(b)
		changed = changed || c
		b, c = dropEmptyPairs(b)
		changed = changed || c
		b, c = dropDupPunc(b)
		changed = changed || c
		b, c = squeezeSpace(b)
		changed = changed || c
		b, c = trimEnds(b)
		changed = changed || c
		if !changed {
			return b
		}
	}
}

// needsTidy reports whether any step of tidy could change b, which mask builds of tokens
// without white space joined by single spaces: only brackets and separators give them work.
func needsTidy(b []byte) bool {
	for _, c := range b {
		if is(c, bOpen|bClose|bPunc) {
			return true
		}
	}
	return false
}

// dropAfterOpen removes every run of class bit right after an opening bracket
// (regexp `([(\[])\s+` or `([(\[])[,;:]+` replaced by "$1").
func dropAfterOpen(b []byte, bit uint8) ([]byte, bool) {
	w, changed := 0, false
	for r := 0; r < len(b); {
		c := b[r]
		b[w] = c
		w++
		r++
		if c == '(' || c == '[' {
			s := r
			for r < len(b) && is(b[r], bit) {
				r++
			}
			changed = changed || r > s
		}
	}
	return b[:w], changed
}

// dropSpaceBeforeClose removes every run of white space right before a separator or a closing
// bracket (regexp `\s+([,;:)\]])` replaced by "$1").
func dropSpaceBeforeClose(b []byte) ([]byte, bool) {
	w, changed := 0, false
	for r := 0; r < len(b); {
		if !is(b[r], bRESpace) {
			b[w] = b[r]
			w++
			r++
			continue
		}
		s := r
		for r < len(b) && is(b[r], bRESpace) {
			r++
		}
		if r < len(b) && is(b[r], bClose|bPunc) {
			changed = true
			continue
		}
		w += copy(b[w:], b[s:r])
	}
	return b[:w], changed
}

// dropEmptyPairs removes every opening bracket followed by white space only and a closing
// bracket (regexp `[(\[]\s*[)\]]` replaced by "").
func dropEmptyPairs(b []byte) ([]byte, bool) {
	w, changed := 0, false
	for r := 0; r < len(b); {
		c := b[r]
		if c == '(' || c == '[' {
			j := r + 1
			for j < len(b) && is(b[j], bRESpace) {
				j++
			}
			if j < len(b) && (b[j] == ')' || b[j] == ']') {
				r = j + 1
				changed = true
				continue
			}
		}
		b[w] = c
		w++
		r++
	}
	return b[:w], changed
}

// dropDupPunc reduces every run of separators, with white space between them, to its first
// separator (regexp `([,;:])(?:\s*[,;:])+` replaced by "$1"). White space after the last
// separator of a run stays.
func dropDupPunc(b []byte) ([]byte, bool) {
	w, changed := 0, false
	for r := 0; r < len(b); {
		c := b[r]
		b[w] = c
		w++
		r++
		if !is(c, bPunc) {
			continue
		}
		for k := r; ; {
			for k < len(b) && is(b[k], bRESpace) {
				k++
			}
			if k == len(b) || !is(b[k], bPunc) {
				break
			}
			k++
			r = k
			changed = true
		}
	}
	return b[:w], changed
}

// squeezeSpace replaces every run of white space by one space (regexp `\s+` replaced by " ").
func squeezeSpace(b []byte) ([]byte, bool) {
	w, changed := 0, false
	for r := 0; r < len(b); {
		c := b[r]
		if !is(c, bRESpace) {
			b[w] = c
			w++
			r++
			continue
		}
		s := r
		for r < len(b) && is(b[r], bRESpace) {
			r++
		}
		changed = changed || r-s > 1 || c != ' '
		b[w] = ' '
		w++
	}
	return b[:w], changed
}

// trimEnds removes spaces and separators at both ends (strings.Trim(s, " ,;:")).
func trimEnds(b []byte) ([]byte, bool) {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || is(b[i], bPunc)) {
		i++
	}
	for j > i && (b[j-1] == ' ' || is(b[j-1], bPunc)) {
		j--
	}
	if i == 0 && j == len(b) {
		return b, false
	}
	return b[:copy(b, b[i:j])], true
}

// Mask applies masking to a reason text given the checked record and its matches: the
// function the trail uses, exported for callers (follow-up actions) that write their own
// entries.
func Mask(reason string, rec matcher.Record, ms []rules.Match) string {
	mk := newMasker(rec, ms)
	defer mk.release()
	return mk.mask(reason)
}
