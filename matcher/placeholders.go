package matcher

import "strings"

// placeholderSet is the compiled form of Placeholders for one field.
type placeholderSet struct {
	values  map[string]bool // folded, any comparator
	field   map[string]bool // normalised by the field's comparator
	locals  map[string]bool
	domains map[string]bool
	emails  map[string]bool
	phones  map[string]bool // digits
	dates   map[string]bool // YYYYMMDD
}

func newPlaceholderSet(p Placeholders, region string) *placeholderSet {
	s := &placeholderSet{
		values: map[string]bool{}, locals: map[string]bool{}, domains: map[string]bool{},
		emails: map[string]bool{}, phones: map[string]bool{}, dates: map[string]bool{},
	}
	add := func(m map[string]bool, key string) {
		if key != "" {
			m[key] = true
		}
	}
	values, locals, domains, dates := p.Values, p.EmailLocalParts, p.EmailDomains, p.Dates
	if !p.NoBuiltin {
		values = append(append([]string(nil), builtinPlaceholderValues...), values...)
		locals = append(append([]string(nil), builtinPlaceholderEmailLocals...), locals...)
		domains = append(append([]string(nil), builtinPlaceholderEmailDomains...), domains...)
		dates = append(append([]string(nil), builtinPlaceholderDates...), dates...)
	}
	for _, v := range values {
		add(s.values, Fold(v))
	}
	for _, v := range locals {
		add(s.locals, strings.ToLower(strings.TrimSpace(v)))
	}
	for _, v := range domains {
		add(s.domains, strings.ToLower(strings.Trim(strings.TrimSpace(v), "@.")))
	}
	for _, v := range p.Emails {
		add(s.emails, NormalizeEmail(v, false))
	}
	for _, v := range p.Phones {
		add(s.phones, strings.TrimPrefix(NormalizePhone(v, region), "+"))
	}
	for _, v := range dates {
		var dv value
		prepareDate(&dv, v)
		add(s.dates, dv.norm)
	}
	return s
}

// withField returns the set extended with a field's own placeholder values, normalised by its
// comparator.
func (s *placeholderSet) withField(extra []string, k kind, region string) *placeholderSet {
	c := *s
	c.field = map[string]bool{}
	if len(extra) == 0 {
		return &c
	}
	f := &field{kind: k, ph: &placeholderSet{}}
	for _, e := range extra {
		switch k {
		case kEmail:
			c.emails = cloneAdd(c.emails, NormalizeEmail(e, false))
		case kPhone:
			c.phones = cloneAdd(c.phones, strings.TrimPrefix(NormalizePhone(e, region), "+"))
		case kDate:
			var dv value
			prepareDate(&dv, e)
			c.dates = cloneAdd(c.dates, dv.norm)
		default:
			v := f.prepareValue(BuiltinLexicon(), e, region)
			if v.norm != "" {
				c.field[v.norm] = true
			}
			c.field[Fold(e)] = true
		}
	}
	return &c
}

func cloneAdd(m map[string]bool, k string) map[string]bool {
	out := make(map[string]bool, len(m)+1)
	for x := range m {
		out[x] = true
	}
	if k != "" {
		out[k] = true
	}
	return out
}

// email reports a placeholder address: a listed address, a role mailbox (info@) or a domain
// without real mailboxes.
func (s *placeholderSet) email(norm string) bool {
	if s.emails[norm] {
		return true
	}
	local, domain, ok := strings.Cut(norm, "@")
	if !ok {
		return false
	}
	return s.locals[local] || s.domains[domain]
}

// phone reports a listed shared number (compared on digits, ignoring a missing country or
// area code when at least 7 digits agree).
func (s *placeholderSet) phone(digits string) bool {
	if s.phones[digits] {
		return true
	}
	for p := range s.phones {
		if sameLocalNumber(p, digits) {
			return true
		}
	}
	return false
}
