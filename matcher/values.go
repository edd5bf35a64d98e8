package matcher

import (
	"strconv"
	"strings"
	"time"
	"unicode"
)

// prepareValue normalises one raw attribute value for field f. region is the record's phone
// region.
func (f *field) prepareValue(lex *Lexicon, raw, region string) value {
	v := value{raw: cleanRaw(raw)}
	if v.raw == "" {
		return v
	}
	folded := Fold(v.raw)
	if folded == "" {
		return v // punctuation, symbols or control characters only: no information
	}
	if f.ph.values[folded] {
		v.ph = true
		return v
	}
	switch f.kind {
	case kExact:
		v.norm = v.raw
	case kNormalized, kJaroWinkler, kLevenshtein, kDamerau:
		v.norm = folded
	case kFirstName, kLastName, kPersonName:
		prepareName(&v, lex, folded, f.kind)
	case kEmail:
		v.norm = NormalizeEmail(v.raw, f.spec.ProviderRules)
		if f.ph.email(v.norm) {
			v.norm, v.ph = "", true
		}
		v.alt, _, _ = strings.Cut(v.norm, "@")
	case kPhone:
		v.norm = NormalizePhone(v.raw, region)
		v.alt = strings.TrimPrefix(v.norm, "+")
		if v.alt == "" || isPlaceholderPhone(v.alt) || f.ph.phone(v.alt) {
			v.norm, v.alt, v.ph = "", "", true
		}
	case kCompany:
		toks := companyTokens(lex, v.raw, true)
		v.toks = toks
		v.norm = strings.Join(toks, " ")
		v.alt = strings.Join(toks, "")
		if v.alt != "" {
			v.ph1, v.ph2 = DoubleMetaphone(toks[0])
		}
	case kAddress:
		prepareAddress(&v, v.raw)
	case kDate:
		prepareDate(&v, v.raw)
		if v.norm != "" && f.ph.dates[v.norm] {
			v.norm, v.ph = "", true
		}
	case kWebsite:
		v.norm = NormalizeWebsite(v.raw)
	case kPostcode, kIdentifier:
		v.norm = alnumUpper(v.raw)
		if f.kind == kIdentifier && v.norm != "" && isPlaceholderID(v.norm) {
			v.norm, v.ph = "", true
		}
	}
	if v.norm != "" && f.ph.field[v.norm] {
		v.norm, v.ph = "", true
	}
	return v
}

// nameTitles are honorifics and suffixes dropped from full names.
var nameTitles = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "miss": true, "mx": true, "dr": true, "prof": true,
	"sir": true, "dame": true, "jr": true, "sr": true, "ii": true, "iii": true, "iv": true,
	"phd": true, "md": true, "esq": true, "rev": true, "herr": true, "frau": true, "mme": true,
	"mlle": true, "sr.": true,
}

func prepareName(v *value, lex *Lexicon, folded string, k kind) {
	toks := strings.Fields(folded)
	if len(toks) > 1 {
		kept := toks[:0:0]
		for _, t := range toks {
			if !nameTitles[t] {
				kept = append(kept, t)
			}
		}
		if len(kept) > 0 {
			toks = kept
		}
	}
	v.toks = toks
	v.norm = strings.Join(toks, " ")
	v.alt = strings.Join(toks, "")
	switch k {
	case kFirstName:
		v.ph1, v.ph2 = DoubleMetaphone(toks[0])
		v.groups = lex.groups(v.norm)
		if v.groups == nil {
			v.groups = lex.groups(toks[0])
		}
	case kLastName:
		v.ph1, v.ph2 = DoubleMetaphone(v.alt)
	}
}

// NormalizeEmail lower-cases an address and removes whitespace, a mailto: prefix, angle
// brackets and a trailing dot. With providerRules, Gmail addresses lose dots and +tags in the
// local part (googlemail.com becomes gmail.com) and Outlook, Hotmail, Live, iCloud, Fastmail
// and Proton addresses lose +tags.
func NormalizeEmail(raw string, providerRules bool) string {
	s := strings.ToLower(cleanRaw(raw))
	s = strings.TrimPrefix(s, "mailto:")
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		s = strings.Join(strings.Fields(s), "")
	}
	s = strings.TrimRight(s, ".")
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return s
	}
	whole := s
	if providerRules {
		switch domain {
		case "gmail.com", "googlemail.com":
			domain = "gmail.com"
			local, _, _ = strings.Cut(local, "+")
			local = strings.ReplaceAll(local, ".", "")
		case "outlook.com", "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
			"fastmail.com", "fastmail.fm", "protonmail.com", "proton.me", "pm.me":
			local, _, _ = strings.Cut(local, "+")
		}
		if local == "" {
			return s
		}
	}
	if len(local)+1+len(domain) == len(whole) && whole[len(local)] == '@' && whole[len(local)+1:] == domain {
		return whole // unchanged (local is then whole's prefix): no copy
	}
	return local + "@" + domain
}

// companyTokens normalises an organisation name to its distinctive words: folded, "&" and "+"
// read as "and", "and" and "the" dropped, runs of single letters joined (I.B.M. → ibm), common
// spelling variants unified (centre → center) and, with strip, trailing legal forms removed
// (Ltd, GmbH, Limited Liability Company).
func companyTokens(lex *Lexicon, raw string, strip bool) []string {
	s := strings.NewReplacer("&", " and ", "+", " and ", "@", " at ").Replace(raw)
	toks := strings.Fields(Fold(s))
	out := make([]string, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if len(t) == 1 && isLetter(t[0]) {
			j := i
			var b strings.Builder
			for j < len(toks) && len(toks[j]) == 1 && isLetter(toks[j][0]) {
				b.WriteString(toks[j])
				j++
			}
			if j-i > 1 {
				out = append(out, b.String())
				i = j - 1
				continue
			}
		}
		if t == "and" || t == "the" || t == "und" || t == "et" {
			continue
		}
		if w, ok := companyWords[t]; ok {
			t = w
		}
		out = append(out, t)
	}
	if !strip || lex == nil {
		return out
	}
	for round := 0; round < 2 && len(out) > 1; round++ {
		stripped := false
		for n := min(lex.legalMaxToks, len(out)-1); n >= 1; n-- {
			tail := strings.Join(out[len(out)-n:], " ")
			if _, ok := lex.legal[tail]; ok {
				out = out[:len(out)-n]
				stripped = true
				break
			}
		}
		if !stripped {
			break
		}
	}
	return out
}

// companyKey is the lookup form of a legal form or name: companyTokens without stripping.
func companyKey(s string) string { return strings.Join(companyTokens(nil, s, false), " ") }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// prepareAddress reads a street line into house number, unit, street words and street type.
func prepareAddress(v *value, raw string) {
	s := strings.ToLower(raw)
	s = strings.ReplaceAll(s, "#", " unit ")
	// "5/12 Smith St": unit 5 at number 12.
	if i := strings.IndexByte(s, '/'); i > 0 {
		l, r := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
		lf := strings.Fields(l)
		if len(lf) > 0 && len(r) > 0 && isDigit(lf[len(lf)-1][0]) && isDigit(r[0]) {
			s = strings.Join(lf[:len(lf)-1], " ") + " unit " + lf[len(lf)-1] + " " + r
		}
	}
	toks := strings.Fields(Fold(s))
	var street []string
	typ := ""
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case unitWords[t] && i+1 < len(toks):
			if v.unit == "" {
				v.unit = toks[i+1]
			}
			i++
			continue
		case isDigit(t[0]):
			if v.num == "" {
				v.num = t
				continue
			}
		case t == "po" && i+1 < len(toks) && toks[i+1] == "box":
			street = append(street, "pobox")
			i++
			continue
		}
		if st, ok := streetTypes[t]; ok && len(street) > 0 {
			typ = st
			continue
		}
		if d, ok := directions[t]; ok {
			street = append(street, d)
			continue
		}
		if glued := splitGluedType(t); glued != "" {
			street = append(street, t[:len(t)-len(glued)])
			typ = streetTypes[glued]
			continue
		}
		street = append(street, t)
	}
	v.toks = street
	v.alt = strings.Join(street, "")
	parts := make([]string, 0, len(street)+4)
	if v.num != "" {
		parts = append(parts, v.num)
	}
	if v.unit != "" {
		parts = append(parts, "u"+v.unit)
	}
	parts = append(parts, street...)
	if typ != "" {
		parts = append(parts, typ)
	}
	v.norm = strings.Join(parts, " ")
}

func splitGluedType(t string) string {
	for _, g := range gluedStreetTypes {
		if len(t) > len(g)+2 && strings.HasSuffix(t, g) {
			return g
		}
	}
	return ""
}

// prepareDate reads a date in ISO (2006-01-02), RFC 3339, WCF (/Date(ms)/), YYYYMMDD or
// day-first (02/01/2006, 02.01.2006; month-first when the second number is above 12) form.
// norm is YYYYMMDD; days is 0 when the digits are not a real date (the digits still compare).
func prepareDate(v *value, raw string) {
	s := strings.TrimSpace(raw)
	if body, ok := strings.CutPrefix(s, "/Date("); ok {
		body = strings.TrimSuffix(body, ")/")
		if i := strings.IndexAny(body[min(1, len(body)):], "+-"); i >= 0 {
			body = body[:i+1]
		}
		if ms, err := strconv.ParseInt(body, 10, 64); err == nil {
			t := time.UnixMilli(ms).UTC()
			setDate(v, t.Year(), int(t.Month()), t.Day())
			return
		}
	}
	// Split into numeric fields.
	var nums [4]string
	n := 0
	cur := -1
	for i := 0; i < len(s) && n <= 3; i++ {
		c := s[i]
		if isDigit(c) {
			if cur < 0 {
				cur = i
			}
			continue
		}
		if cur >= 0 {
			if n < 4 {
				nums[n] = s[cur:i]
			}
			n++
			cur = -1
		}
		if c == 'T' || c == 't' || c == ' ' && n == 3 {
			break // time part of an RFC 3339 timestamp
		}
	}
	if cur >= 0 && n < 4 {
		nums[n] = s[cur:]
		n++
	}
	switch {
	case n == 1 && len(nums[0]) == 8:
		d := nums[0]
		setDate(v, atoi(d[:4]), atoi(d[4:6]), atoi(d[6:]))
	case n >= 3 && len(nums[0]) == 4:
		setDate(v, atoi(nums[0]), atoi(nums[1]), atoi(nums[2]))
	case n >= 3 && len(nums[2]) == 4 && len(nums[0]) <= 2 && len(nums[1]) <= 2:
		d, m := atoi(nums[0]), atoi(nums[1])
		if m > 12 && d <= 12 {
			d, m = m, d
		}
		setDate(v, atoi(nums[2]), m, d)
	default:
		// Not a date we can read: compare it as folded text.
		v.norm = Fold(raw)
	}
}

func setDate(v *value, y, m, d int) {
	if y < 0 || y > 9999 || m < 0 || m > 99 || d < 0 || d > 99 {
		v.norm = ""
		return
	}
	b := make([]byte, 0, 8)
	b = appendPadded(b, y, 4)
	b = appendPadded(b, m, 2)
	b = appendPadded(b, d, 2)
	v.norm = string(b)
	v.ymd = [3]int16{int16(y), int16(m), int16(d)}
	if m >= 1 && m <= 12 && d >= 1 && d <= 31 && y >= 1 {
		t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
		if t.Day() == d && int(t.Month()) == m {
			v.days = int32(t.Unix()/86400 + 1_000_000) // never 0 for a real date
		}
	}
}

func appendPadded(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// isPlaceholderID reports identifiers made of one repeated character or a digit run.
func isPlaceholderID(s string) bool {
	if len(s) < 4 {
		return true
	}
	same, up := true, true
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			same = false
		}
		if s[i] != s[i-1]+1 {
			up = false
		}
	}
	return same || up
}

// NormalizeWebsite reduces a web address to its lower-case host without scheme, "www." and
// port: "https://www.Contoso.com/about" → "contoso.com". A value without a dot in its host
// ("No", "n/a") is not a web address and gives "".
func NormalizeWebsite(raw string) string {
	s := strings.ToLower(cleanRaw(raw))
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	s = strings.Trim(strings.TrimPrefix(strings.Trim(s, ". "), "www."), ". ")
	if !strings.Contains(s, ".") || strings.ContainsAny(s, " \t") {
		return ""
	}
	return s
}
