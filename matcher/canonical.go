package matcher

import (
	"slices"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Canonical returns rec, a row of the rule's candidate table, with the values that are costly
// to normalise replaced by their normal form, so that the copy the index keeps is cheap to
// prepare when it is read back as a candidate: phone numbers become E.164 ("+442079460958",
// which NormalizePhone reads without libphonenumber). A value that does not normalise to E.164
// (no country code and no region, unparseable) is kept as it is. rec is not modified; when
// nothing changes rec itself is returned.
func (r *Rule) Canonical(rec Record) Record { return CanonicalRecord(rec, r) }

// CanonicalRecord is Canonical for every rule that reads rec as a candidate (the index files a
// row once for all of them). An attribute is rewritten only when every rule reading it as a
// phone agrees on its E.164 form (rules with different regions may read a national number
// differently). Rules whose candidate table is not rec's are ignored.
func CanonicalRecord(rec Record, rules ...*Rule) Record {
	rec = rec.Unpacked()
	out := CanonicalAttrs(rec, rules...)
	if len(out) == 0 {
		return rec
	}
	attrs := make(map[string]string, len(rec.Attrs))
	for k, v := range rec.Attrs {
		attrs[k] = v
	}
	for k, v := range out {
		attrs[k] = v
	}
	return Record{Entity: rec.Entity, ID: rec.ID, Attrs: attrs}
}

// CanonicalAttrs returns the attributes CanonicalRecord rewrites and their new values (nil
// when none), for a caller that builds a copy of rec's attributes anyway.
func CanonicalAttrs(rec Record, rules ...*Rule) map[string]string {
	var out map[string]string
	var conflict map[string]bool
	for _, r := range rules {
		if r == nil || r.spec.CandidateEntity != rec.Entity {
			continue
		}
		region := ""
		regionDone := false
		for i := range r.fields {
			f := &r.fields[i]
			if f.kind != kPhone {
				continue
			}
			raw, ok := rec.Attr(f.candAttr)
			if !ok || raw == "" || conflict[f.candAttr] {
				continue
			}
			if !regionDone {
				region, regionDone = r.recordRegion(rec), true
			}
			n := NormalizePhone(raw, region)
			if !strings.HasPrefix(n, "+") || len(n) < 9 {
				n = "" // not E.164: leave the value for every rule to read as typed
			}
			prev, seen := out[f.candAttr]
			switch {
			case seen && prev != n, n == "":
				if conflict == nil {
					conflict = map[string]bool{}
				}
				conflict[f.candAttr] = true
				if out != nil {
					delete(out, f.candAttr)
				}
			case n != raw:
				if out == nil {
					out = map[string]string{}
				}
				out[f.candAttr] = n
			}
		}
	}
	return out
}

// recordRegion is the phone region of rec: its country attribute's, else the rule's default.
func (r *Rule) recordRegion(rec Record) string {
	if r.spec.CountryAttr != "" {
		c, _ := rec.Attr(r.spec.CountryAttr)
		if reg := regionFor(c); reg != "" {
			return reg
		}
	}
	return r.region
}

// e164Fast returns s when it is already an E.164 number that libphonenumber would return
// unchanged ("+" and 8 to 15 digits, nothing else, a known country code, a national number that
// neither starts with 0 nor with anything a region of the code strips as a national prefix),
// else "". It is the fast path of NormalizePhone for values the index stored in canonical form;
// TestE164FastAgreesWithLibphonenumber checks it against libphonenumber.
func e164Fast(s string) string {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return ""
	}
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return ""
		}
	}
	codes := fastCountryCodes()
	// Country calling codes are prefix-free: at most one of the 1-, 2- and 3-digit prefixes is one.
	cc := 0
	for n := 1; n <= 3; n++ {
		cc = cc*10 + int(s[n]-'0')
		prefixes, known := codes[cc]
		if !known {
			continue
		}
		national := s[n+1:]
		if national[0] == '0' {
			return "" // Italian-style leading zeros and trunk prefixes: libphonenumber decides
		}
		for _, p := range prefixes {
			if end, _ := p.find(national); end >= 0 {
				return "" // a national prefix (or carrier code) libphonenumber may strip
			}
		}
		return s
	}
	return ""
}

var (
	fastCCOnce sync.Once
	fastCC     map[int][]anchoredPattern
)

// fastCountryCodes maps every country calling code to the national prefix patterns of its
// regions (anchored at the start, as libphonenumber applies them).
func fastCountryCodes() map[int][]anchoredPattern {
	fastCCOnce.Do(func() {
		fastCC = map[int][]anchoredPattern{}
		coll, err := phonenumbers.MetadataCollection()
		if err != nil {
			return // no fast path at all: every number goes through libphonenumber
		}
		for _, m := range coll.GetMetadata() {
			cc := int(m.GetCountryCode())
			if cc == 0 {
				continue
			}
			ps := fastCC[cc]
			if npp := m.GetNationalPrefixForParsing(); npp != "" {
				p, err := newAnchoredPattern(npp)
				if err != nil {
					continue // cannot happen with the library's own metadata; never fast then
				}
				if !slices.ContainsFunc(ps, func(q anchoredPattern) bool { return q.re.String() == p.re.String() }) {
					ps = append(ps, p) // regions of one code often share a pattern
				}
			}
			fastCC[cc] = ps
		}
	})
	return fastCC
}
