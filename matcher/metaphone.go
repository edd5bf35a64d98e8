package matcher

import "strings"

// DoubleMetaphone returns the primary and alternate Double Metaphone codes of a word, each at
// most 4 characters, as described by Lawrence Philips ("The Double Metaphone Search
// Algorithm", C/C++ Users Journal, June 2000). It is implemented here from that description
// because the Go modules that implement it are GPL-licensed.
//
// The input should be a single name already folded to ASCII letters (see Fold): other
// characters are treated as word breaks. The alternate code equals the primary when the word
// has no alternative pronunciation. An empty word gives two empty codes.
func DoubleMetaphone(word string) (primary, alternate string) {
	return doubleMetaphone(word, 4)
}

// dmState walks one upper-cased word and builds both codes.
type dmState struct {
	w        []byte // upper-case ASCII letters and spaces, padded at the end
	n        int    // length of the word without padding
	last     int
	pri, alt [8]byte
	np, na   int
	max      int
	slavo    bool
}

func (s *dmState) at(i int) byte {
	if i < 0 || i >= s.n {
		return ' '
	}
	return s.w[i]
}

// is reports whether the substring of s.w starting at i equals one of the options (which all
// have the same length).
func (s *dmState) is(i int, opts ...string) bool {
	if i < 0 {
		return false
	}
	for _, o := range opts {
		ok := true
		for k := 0; k < len(o); k++ {
			if s.at(i+k) != o[k] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (s *dmState) vowel(i int) bool {
	switch s.at(i) {
	case 'A', 'E', 'I', 'O', 'U', 'Y':
		return true
	}
	return false
}

// add appends p to the primary code and a to the alternate code.
func (s *dmState) add(p, a string) {
	for k := 0; k < len(p) && s.np < len(s.pri); k++ {
		s.pri[s.np] = p[k]
		s.np++
	}
	for k := 0; k < len(a) && s.na < len(s.alt); k++ {
		s.alt[s.na] = a[k]
		s.na++
	}
}

func (s *dmState) both(c string) { s.add(c, c) }

func (s *dmState) done() bool { return s.np >= s.max && s.na >= s.max }

// germanic reports the "Germanic" spellings the C and G rules treat as a hard sound.
func (s *dmState) germanic() bool {
	return s.is(0, "VAN ", "VON ") || s.is(0, "SCH")
}

func doubleMetaphone(word string, max int) (string, string) {
	var buf [64]byte
	w := buf[:0]
	for i := 0; i < len(word) && len(w) < len(buf); i++ {
		c := word[i]
		switch {
		case c >= 'a' && c <= 'z':
			w = append(w, c-'a'+'A')
		case c >= 'A' && c <= 'Z':
			w = append(w, c)
		default:
			if len(w) > 0 && w[len(w)-1] != ' ' {
				w = append(w, ' ')
			}
		}
	}
	for len(w) > 0 && w[len(w)-1] == ' ' {
		w = w[:len(w)-1]
	}
	if len(w) == 0 {
		return "", ""
	}
	s := &dmState{w: w, n: len(w), last: len(w) - 1, max: max}
	up := string(w)
	s.slavo = strings.Contains(up, "W") || strings.Contains(up, "K") || strings.Contains(up, "CZ") || strings.Contains(up, "WITZ")

	cur := 0
	// Silent first letters.
	if s.is(0, "GN", "KN", "PN", "WR", "PS") {
		cur = 1
	}
	// An initial X sounds like S (Xavier).
	if s.at(0) == 'X' {
		s.both("S")
		cur = 1
	}

	for !s.done() && cur < s.n {
		c := s.at(cur)
		switch c {
		case 'A', 'E', 'I', 'O', 'U', 'Y':
			if cur == 0 {
				s.both("A")
			}
			cur++
		case 'B':
			s.both("P")
			if s.at(cur+1) == 'B' {
				cur += 2
			} else {
				cur++
			}
		case 'C':
			cur = s.ruleC(cur)
		case 'D':
			switch {
			case s.is(cur, "DG"):
				if s.is(cur+2, "I", "E", "Y") {
					s.both("J") // edge
					cur += 3
				} else {
					s.both("TK") // edgar
					cur += 2
				}
			case s.is(cur, "DT", "DD"):
				s.both("T")
				cur += 2
			default:
				s.both("T")
				cur++
			}
		case 'F':
			s.both("F")
			cur += skipDouble(s, cur, 'F')
		case 'G':
			cur = s.ruleG(cur)
		case 'H':
			// Only keep H between vowels or at the start before a vowel.
			if (cur == 0 || s.vowel(cur-1)) && s.vowel(cur+1) {
				s.both("H")
				cur += 2
			} else {
				cur++
			}
		case 'J':
			cur = s.ruleJ(cur)
		case 'K':
			s.both("K")
			cur += skipDouble(s, cur, 'K')
		case 'L':
			if s.at(cur+1) == 'L' {
				// Spanish "ll" (cabrillo, gallegos) is silent in the alternate code.
				if (cur == s.n-3 && s.is(cur-1, "ILLO", "ILLA", "ALLE")) ||
					((s.is(s.last-1, "AS", "OS") || s.is(s.last, "A", "O")) && s.is(cur-1, "ALLE")) {
					s.add("L", "")
					cur += 2
					break
				}
				cur += 2
			} else {
				cur++
			}
			s.both("L")
		case 'M':
			s.both("M")
			// "dumb", "thumb": the B is silent.
			if (s.is(cur-1, "UMB") && (cur+1 == s.last || s.is(cur+2, "ER"))) || s.at(cur+1) == 'M' {
				cur += 2
			} else {
				cur++
			}
		case 'N':
			s.both("N")
			cur += skipDouble(s, cur, 'N')
		case 'P':
			if s.at(cur+1) == 'H' {
				s.both("F")
				cur += 2
				break
			}
			s.both("P")
			if s.is(cur+1, "P", "B") { // campbell, raspberry
				cur += 2
			} else {
				cur++
			}
		case 'Q':
			s.both("K")
			cur += skipDouble(s, cur, 'Q')
		case 'R':
			// French final "-ier" (Rogier) drops the R in the primary code.
			if cur == s.last && !s.slavo && s.is(cur-2, "IE") && !s.is(cur-4, "ME", "MA") {
				s.add("", "R")
			} else {
				s.both("R")
			}
			cur += skipDouble(s, cur, 'R')
		case 'S':
			cur = s.ruleS(cur)
		case 'T':
			cur = s.ruleT(cur)
		case 'V':
			s.both("F")
			cur += skipDouble(s, cur, 'V')
		case 'W':
			cur = s.ruleW(cur)
		case 'X':
			// Final X after -au/-eau/-ou is silent (French).
			if !(cur == s.last && (s.is(cur-3, "IAU", "EAU") || s.is(cur-2, "AU", "OU"))) {
				s.both("KS")
			}
			if s.is(cur+1, "C", "X") {
				cur += 2
			} else {
				cur++
			}
		case 'Z':
			if s.at(cur+1) == 'H' { // Chinese pinyin: zhao
				s.both("J")
				cur += 2
				break
			}
			if s.is(cur+1, "ZO", "ZI", "ZA") || (s.slavo && cur > 0 && s.at(cur-1) != 'T') {
				s.add("S", "TS")
			} else {
				s.both("S")
			}
			cur += skipDouble(s, cur, 'Z')
		default:
			cur++
		}
	}
	p, a := s.np, s.na
	if p > max {
		p = max
	}
	if a > max {
		a = max
	}
	return string(s.pri[:p]), string(s.alt[:a])
}

// skipDouble returns 2 when the letter at cur is doubled, else 1.
func skipDouble(s *dmState, cur int, c byte) int {
	if s.at(cur+1) == c {
		return 2
	}
	return 1
}

func (s *dmState) ruleC(cur int) int {
	// Various Germanic "-ach-" (bacher, macher) are hard.
	if cur > 1 && !s.vowel(cur-2) && s.is(cur-1, "ACH") && s.at(cur+2) != 'I' &&
		(s.at(cur+2) != 'E' || s.is(cur-2, "BACHER", "MACHER")) {
		s.both("K")
		return cur + 2
	}
	if cur == 0 && s.is(cur, "CAESAR") {
		s.both("S")
		return cur + 2
	}
	if s.is(cur, "CHIA") { // chianti
		s.both("K")
		return cur + 2
	}
	if s.is(cur, "CH") {
		if cur > 0 && s.is(cur, "CHAE") { // michael
			s.add("K", "X")
			return cur + 2
		}
		// Greek roots at the start: chemistry, chorus.
		if cur == 0 && (s.is(cur+1, "HARAC", "HARIS") || s.is(cur+1, "HOR", "HYM", "HIA", "HEM")) && !s.is(0, "CHORE") {
			s.both("K")
			return cur + 2
		}
		if s.germanic() || s.is(cur-2, "ORCHES", "ARCHIT", "ORCHID") || s.is(cur+2, "T", "S") ||
			((s.is(cur-1, "A", "O", "U", "E") || cur == 0) && s.is(cur+2, "L", "R", "N", "M", "B", "H", "F", "V", "W", " ")) {
			s.both("K")
		} else if cur > 0 {
			if s.is(0, "MC") { // mchugh
				s.both("K")
			} else {
				s.add("X", "K")
			}
		} else {
			s.both("X")
		}
		return cur + 2
	}
	if s.is(cur, "CZ") && !s.is(cur-2, "WICZ") { // czerny
		s.add("S", "X")
		return cur + 2
	}
	if s.is(cur+1, "CIA") { // focaccia
		s.both("X")
		return cur + 3
	}
	if s.is(cur, "CC") && !(cur == 1 && s.at(0) == 'M') { // but not mccarthy
		if s.is(cur+2, "I", "E", "H") && !s.is(cur+2, "HU") {
			if (cur == 1 && s.at(cur-1) == 'A') || s.is(cur-1, "UCCEE", "UCCES") { // accident, succeed
				s.both("KS")
			} else { // bacci, bertucci
				s.both("X")
			}
			return cur + 3
		}
		s.both("K") // pierce's rule
		return cur + 2
	}
	if s.is(cur, "CK", "CG", "CQ") {
		s.both("K")
		return cur + 2
	}
	if s.is(cur, "CI", "CE", "CY") {
		if s.is(cur, "CIO", "CIE", "CIA") { // italian
			s.add("S", "X")
		} else {
			s.both("S")
		}
		return cur + 2
	}
	s.both("K")
	if s.is(cur+1, " C", " Q", " G") { // mac caffrey, mac gregor
		return cur + 3
	}
	if s.is(cur+1, "C", "K", "Q") && !s.is(cur+1, "CE", "CI") {
		return cur + 2
	}
	return cur + 1
}

func (s *dmState) ruleG(cur int) int {
	if s.at(cur+1) == 'H' {
		if cur > 0 && !s.vowel(cur-1) {
			s.both("K")
			return cur + 2
		}
		if cur == 0 { // ghislane, ghiradelli
			if s.at(cur+2) == 'I' {
				s.both("J")
			} else {
				s.both("K")
			}
			return cur + 2
		}
		// Parker's rule: hugh, bough, broughton have a silent gh.
		if (cur > 1 && s.is(cur-2, "B", "H", "D")) || (cur > 2 && s.is(cur-3, "B", "H", "D")) || (cur > 3 && s.is(cur-4, "B", "H")) {
			return cur + 2
		}
		// laugh, cough, rough, tough: -ugh sounds like F.
		if cur > 2 && s.at(cur-1) == 'U' && s.is(cur-3, "C", "G", "L", "R", "T") {
			s.both("F")
		} else if cur > 0 && s.at(cur-1) != 'I' {
			s.both("K")
		}
		return cur + 2
	}
	if s.at(cur+1) == 'N' {
		if cur == 1 && s.vowel(0) && !s.slavo {
			s.add("KN", "N")
		} else if !s.is(cur+2, "EY") && s.at(cur+1) != 'Y' && !s.slavo { // not cagney
			s.add("N", "KN")
		} else {
			s.both("KN")
		}
		return cur + 2
	}
	if s.is(cur+1, "LI") && !s.slavo { // tagliaro
		s.add("KL", "L")
		return cur + 2
	}
	// -ges-, -gep-, -gel-, -gie- at the beginning.
	if cur == 0 && (s.at(cur+1) == 'Y' || s.is(cur+1, "ES", "EP", "EB", "EL", "EY", "IB", "IL", "IN", "IE", "EI", "ER")) {
		s.add("K", "J")
		return cur + 2
	}
	// -ger-, -gy-
	if (s.is(cur+1, "ER") || s.at(cur+1) == 'Y') && !s.is(0, "DANGER", "RANGER", "MANGER") &&
		!s.is(cur-1, "E", "I") && !s.is(cur-1, "RGY", "OGY") {
		s.add("K", "J")
		return cur + 2
	}
	// Italian "biaggi".
	if s.is(cur+1, "E", "I", "Y") || s.is(cur-1, "AGGI", "OGGI") {
		if s.germanic() || s.is(cur+1, "ET") {
			s.both("K")
		} else if s.is(cur+1, "IER ") {
			s.both("J")
		} else {
			s.add("J", "K")
		}
		return cur + 2
	}
	s.both("K")
	if s.at(cur+1) == 'G' {
		return cur + 2
	}
	return cur + 1
}

func (s *dmState) ruleJ(cur int) int {
	// Spanish "jose", "san jacinto".
	if s.is(cur, "JOSE") || s.is(0, "SAN ") {
		if (cur == 0 && s.at(cur+4) == ' ') || s.is(0, "SAN ") {
			s.both("H")
		} else {
			s.add("J", "H")
		}
		return cur + 1
	}
	switch {
	case cur == 0 && !s.is(cur, "JOSE"):
		s.add("J", "A") // Yankelovich / Jankelowicz
	case s.vowel(cur-1) && !s.slavo && (s.at(cur+1) == 'A' || s.at(cur+1) == 'O'):
		s.add("J", "H") // bajador
	case cur == s.last:
		s.add("J", "")
	case !s.is(cur+1, "L", "T", "K", "S", "N", "M", "B", "Z") && !s.is(cur-1, "S", "K", "L"):
		s.both("J")
	}
	if s.at(cur+1) == 'J' {
		return cur + 2
	}
	return cur + 1
}

func (s *dmState) ruleS(cur int) int {
	if s.is(cur-1, "ISL", "YSL") { // island, isle, carlysle
		return cur + 1
	}
	if cur == 0 && s.is(cur, "SUGAR") {
		s.add("X", "S")
		return cur + 1
	}
	if s.is(cur, "SH") {
		if s.is(cur+1, "HEIM", "HOEK", "HOLM", "HOLZ") { // germanic
			s.both("S")
		} else {
			s.both("X")
		}
		return cur + 2
	}
	if s.is(cur, "SIO", "SIA") || s.is(cur, "SIAN") { // italian and armenian
		if !s.slavo {
			s.add("S", "X")
		} else {
			s.both("S")
		}
		return cur + 3
	}
	// German and anglicisations: smith/schmidt, snider/schneider; -sz- in Slavic names.
	if (cur == 0 && s.is(cur+1, "M", "N", "L", "W")) || s.is(cur+1, "Z") {
		s.add("S", "X")
		if s.is(cur+1, "Z") {
			return cur + 2
		}
		return cur + 1
	}
	if s.is(cur, "SC") {
		if s.at(cur+2) == 'H' {
			if s.is(cur+3, "OO", "ER", "EN", "UY", "ED", "EM") { // dutch: school, schooner, schenker
				if s.is(cur+3, "ER", "EN") {
					s.add("X", "SK")
				} else {
					s.both("SK")
				}
				return cur + 3
			}
			if cur == 0 && !s.vowel(3) && s.at(3) != 'W' {
				s.add("X", "S")
			} else {
				s.both("X")
			}
			return cur + 3
		}
		if s.is(cur+2, "I", "E", "Y") {
			s.both("S")
			return cur + 3
		}
		s.both("SK")
		return cur + 3
	}
	// French final -ais, -ois.
	if cur == s.last && s.is(cur-2, "AI", "OI") {
		s.add("", "S")
	} else {
		s.both("S")
	}
	if s.is(cur+1, "S", "Z") {
		return cur + 2
	}
	return cur + 1
}

func (s *dmState) ruleT(cur int) int {
	if s.is(cur, "TION") {
		s.both("X")
		return cur + 3
	}
	if s.is(cur, "TIA", "TCH") {
		s.both("X")
		return cur + 3
	}
	if s.is(cur, "TH") || s.is(cur, "TTH") {
		// thomas, thompson: a hard T.
		if s.is(cur+2, "OM", "AM") || s.germanic() {
			s.both("T")
		} else {
			s.add("0", "T")
		}
		return cur + 2
	}
	s.both("T")
	if s.is(cur+1, "T", "D") {
		return cur + 2
	}
	return cur + 1
}

func (s *dmState) ruleW(cur int) int {
	if s.is(cur, "WR") {
		s.both("R")
		return cur + 2
	}
	if cur == 0 && (s.vowel(cur+1) || s.is(cur, "WH")) {
		if s.vowel(cur + 1) { // Wasserman should match Vasserman
			s.add("A", "F")
		} else { // need Uomo to match Womo
			s.both("A")
		}
	}
	// Arnow should match Arnoff; Polish -ewski.
	if (cur == s.last && s.vowel(cur-1)) || s.is(cur-1, "EWSKI", "EWSKY", "OWSKI", "OWSKY") || s.is(0, "SCH") {
		s.add("", "F")
		return cur + 1
	}
	if s.is(cur, "WICZ", "WITZ") { // polish: filipowicz
		s.add("TS", "FX")
		return cur + 4
	}
	return cur + 1
}
