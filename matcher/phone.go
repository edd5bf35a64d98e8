package matcher

import (
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns a phone number in E.164 form ("+442079460958") when libphonenumber can
// read it as a possible number, using region for numbers written without a country code;
// otherwise its digits (with a leading + if it had one). Extensions ("x12", "ext. 12", "#12")
// are dropped. The empty string means no number.
func NormalizePhone(raw, region string) string {
	if v := e164Fast(raw); v != "" {
		return v // already E.164 (as the index stores candidates): no parse needed
	}
	s := stripExtension(cleanRaw(raw))
	digits := digitsOf(s)
	if len(digits) == 0 {
		return ""
	}
	plus := strings.HasPrefix(strings.TrimLeft(s, " ("), "+") || strings.HasPrefix(digits, "00")
	if plus || region != "" {
		return parsePhone(s, region, digits, plus)
	}
	return digits
}

// parsePhone returns NormalizePhone's answer for s, the cleaned number without extension,
// whose digits are digits; plus says it is international ("+" or "00"), region reads it
// otherwise. Numbers written with digits and common separators only are read by fastE164,
// which answers as the library would; the rest, and whatever fastE164 is unsure of, by
// libphonenumber, whose answers are kept (phoneCache). Only those: looking a number up in a
// large map costs about what fastE164 does (cache misses are the price of both), and a file
// of distinct numbers never finds one there.
func parsePhone(s, region, digits string, plus bool) string {
	if d, ok := plainPhoneDigits(s, digits, plus); ok {
		if v, ok := fastE164(d, plus, region); ok {
			return v
		}
	}
	key := region + "|" + s
	if v, ok := phoneCache.get(key); ok {
		return v
	}
	out := libraryE164(s, region, digits, plus)
	phoneCache.put(key, out)
	return out
}

// libraryE164 is parsePhone by libphonenumber: the E.164 form when the library parses s (with
// region unless plus) into a possible number, else the digits (after a "+" when plus, without
// the "00" of an international prefix).
func libraryE164(s, region, digits string, plus bool) string {
	in := s
	if strings.HasPrefix(digits, "00") && !strings.Contains(s, "+") {
		in = "+" + digits[2:]
	}
	reg := region
	if plus {
		reg = ""
	}
	num, err := phonenumbers.Parse(in, reg)
	if err == nil && phonenumbers.IsPossibleNumber(num) {
		return phonenumbers.Format(num, phonenumbers.E164)
	}
	if plus {
		return "+" + strings.TrimPrefix(digits, "00")
	}
	return digits
}

// stripExtension cuts "x123", "ext 123", "extension 123" and "#123" off a number.
func stripExtension(s string) string {
	low := strings.ToLower(s)
	cut := len(s)
	for _, m := range []string{"ext", "#", ";", "x"} {
		if i := strings.Index(low, m); i > 0 && i < cut {
			// Only when digits come before it: "x" inside words is not an extension.
			if strings.ContainsAny(low[:i], "0123456789") {
				cut = i
			}
		}
	}
	return strings.TrimSpace(s[:cut])
}

// regionFor resolves a country attribute value (ISO code or common English/local name) to a
// region with a phone numbering plan, or "".
func regionFor(country string) string {
	f := Fold(country)
	if f == "" {
		return ""
	}
	if len(f) == 2 {
		r := strings.ToUpper(f)
		if r == "UK" {
			return "GB"
		}
		if validRegion(r) {
			return r
		}
	}
	return countryRegions[f]
}

// validRegion reports whether r is an ISO 3166 region libphonenumber knows.
func validRegion(r string) bool {
	return len(r) == 2 && phonenumbers.GetCountryCodeForRegion(r) != 0
}

// isPlaceholderPhone reports numbers that cannot be a real subscriber's: too short, one digit
// repeated, or a run of consecutive digits.
func isPlaceholderPhone(digits string) bool {
	if len(digits) < 6 {
		return true
	}
	// Look at the subscriber part only: the last 7 digits.
	d := digits
	if len(d) > 7 {
		d = d[len(d)-7:]
	}
	same, up, down := true, true, true
	for i := 1; i < len(d); i++ {
		if d[i] != d[0] {
			same = false
		}
		if d[i] != d[i-1]+1 && !(d[i-1] == '9' && d[i] == '0') {
			up = false
		}
		if d[i]+1 != d[i-1] {
			down = false
		}
	}
	return same || up || down
}

// boundedCache is a small concurrent string cache that forgets everything when full: enough
// to keep the parsing of repeated values (a candidate's phone) off the hot path.
type boundedCache struct {
	mu  sync.RWMutex
	m   map[string]string
	max int
}

var phoneCache = &boundedCache{max: 100_000}

func (c *boundedCache) get(k string) (string, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *boundedCache) put(k, v string) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[string]string, 1024)
	}
	c.m[k] = v
	c.mu.Unlock()
}

// sameLocalNumber reports whether two digit strings are one number written with and without
// its country or trunk prefix: the shorter, without leading zeros, has at least 7 digits and
// ends the longer ("02079460958" and "442079460958").
func sameLocalNumber(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	a = strings.TrimLeft(a, "0")
	return len(a) >= 7 && strings.HasSuffix(b, a)
}
