package matcher

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// anchoredPattern is a phone metadata pattern (a national prefix for parsing, an international
// prefix) matched at the start of a string, as libphonenumber applies them. Both phone fast
// paths use it (e164Fast, fastE164). The library's patterns are nearly all alternatives of
// fixed digit sequences, some anchored at the end ("0", "([25-9]\d{5})$|0", "(183[12])|0",
// "00|1[0-3]"): those are decided by comparing bytes (alts), the others by the expression.
type anchoredPattern struct {
	re      *regexp.Regexp // ^(?:pattern); nil: no pattern
	lit     string         // every match starts with lit
	literal bool           // the pattern is lit itself
	groups  bool           // the pattern has capturing groups
	alts    []classSeq     // the alternatives, in the expression's order of preference
	simple  bool           // alts decides every match
}

// classSeq is one alternative: a byte class per position; anchored: it must end the string;
// captured: a capturing group takes part when it matches.
type classSeq struct {
	pos      []byteSet
	anchored bool
	captured bool
}

type byteSet [4]uint64

func (b *byteSet) add(c byte)      { b[c>>6] |= 1 << (c & 63) }
func (b *byteSet) has(c byte) bool { return b[c>>6]&(1<<(c&63)) != 0 }

func (q *classSeq) matches(s string) bool {
	if len(s) < len(q.pos) || q.anchored && len(s) != len(q.pos) {
		return false
	}
	for i := range q.pos {
		if !q.pos[i].has(s[i]) {
			return false
		}
	}
	return true
}

func newAnchoredPattern(p string) (anchoredPattern, error) {
	re, err := regexp.Compile("^(?:" + p + ")")
	if err != nil {
		return anchoredPattern{}, err
	}
	plain, err := regexp.Compile(p)
	if err != nil {
		return anchoredPattern{}, err
	}
	lit, literal := plain.LiteralPrefix()
	ap := anchoredPattern{re: re, lit: lit, literal: literal, groups: re.NumSubexp() > 0}
	if t, err := syntax.Parse("^(?:"+p+")", syntax.Perl); err == nil {
		ap.alts, ap.simple = classSeqs(t.Simplify(), false)
	}
	return ap, nil
}

// find returns the end of the pattern's match at the start of s, or -1 when there is none, and
// whether a capturing group of the pattern took part in the match.
func (p anchoredPattern) find(s string) (end int, group bool) {
	if p.re == nil || !strings.HasPrefix(s, p.lit) {
		return -1, false
	}
	if p.literal {
		return len(p.lit), false
	}
	if p.simple {
		// Leftmost-first, as the expression: the first alternative that matches.
		for i := range p.alts {
			if q := &p.alts[i]; q.matches(s) {
				return len(q.pos), q.captured
			}
		}
		return -1, false
	}
	if !p.groups {
		loc := p.re.FindStringIndex(s)
		if loc == nil {
			return -1, false
		}
		return loc[1], false
	}
	loc := p.re.FindStringSubmatchIndex(s)
	if loc == nil {
		return -1, false
	}
	for i := 2; i < len(loc); i += 2 {
		if loc[i] >= 0 {
			group = true
		}
	}
	return loc[1], group
}

// classSeqs returns the alternatives of t, a pattern anchored at the start, as class sequences
// (captured: t is inside a capturing group), or ok false when one of them is anything else (a
// variable length, a non-ASCII class, an alternation inside a sequence, …).
func classSeqs(t *syntax.Regexp, captured bool) ([]classSeq, bool) {
	for t.Op == syntax.OpCapture {
		t, captured = t.Sub[0], true
	}
	if t.Op == syntax.OpConcat && len(t.Sub) > 0 && t.Sub[0].Op == syntax.OpBeginText {
		if len(t.Sub) == 2 {
			return classSeqs(t.Sub[1], captured)
		}
		rest := *t
		rest.Sub = t.Sub[1:]
		return classSeqs(&rest, captured)
	}
	if t.Op == syntax.OpAlternate {
		var out []classSeq
		for _, sub := range t.Sub {
			qs, ok := classSeqs(sub, captured)
			if !ok {
				return nil, false
			}
			out = append(out, qs...)
		}
		return out, true
	}
	q := classSeq{captured: captured}
	if !appendClasses(&q, t) {
		return nil, false
	}
	return []classSeq{q}, true
}

// appendClasses appends t's positions to q; false when t is not a fixed sequence of ASCII
// classes (an end anchor may close it).
func appendClasses(q *classSeq, t *syntax.Regexp) bool {
	if q.anchored {
		return false // nothing may follow the end
	}
	switch t.Op {
	case syntax.OpCapture:
		q.captured = true
		return appendClasses(q, t.Sub[0])
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpEndText:
		q.anchored = true
		return true
	case syntax.OpLiteral:
		if t.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range t.Rune {
			if r >= 0x80 {
				return false
			}
			var b byteSet
			b.add(byte(r))
			q.pos = append(q.pos, b)
		}
		return true
	case syntax.OpCharClass:
		var b byteSet
		for i := 0; i+1 < len(t.Rune); i += 2 {
			lo, hi := t.Rune[i], t.Rune[i+1]
			if hi >= 0x80 {
				return false
			}
			for r := lo; r <= hi; r++ {
				b.add(byte(r))
			}
		}
		q.pos = append(q.pos, b)
		return true
	case syntax.OpConcat:
		for _, sub := range t.Sub {
			if !appendClasses(q, sub) {
				return false
			}
		}
		return true
	case syntax.OpRepeat:
		if t.Min != t.Max || t.Min > 32 {
			return false
		}
		for range t.Min {
			if !appendClasses(q, t.Sub[0]) {
				return false
			}
		}
		return true
	}
	return false
}
