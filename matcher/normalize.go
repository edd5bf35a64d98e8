package matcher

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxValueRunes caps how much of one attribute value is normalised and compared. Longer values
// are cut: no real name, email or address is longer, and the cap bounds the cost of the
// quadratic comparators on hostile input.
const MaxValueRunes = 200

// letterFolds are the letters that Unicode decomposition does not reduce to a base letter plus
// marks, spelled the way they are usually transliterated.
var letterFolds = map[rune]string{
	'ß': "ss", 'ẞ': "ss", 'ø': "o", 'Ø': "o", 'ł': "l", 'Ł': "l", 'đ': "d", 'Đ': "d",
	'ð': "d", 'Ð': "d", 'þ': "th", 'Þ': "th", 'æ': "ae", 'Æ': "ae", 'œ': "oe", 'Œ': "oe",
	'ı': "i", 'ħ': "h", 'Ħ': "h", 'ŧ': "t", 'Ŧ': "t", 'ŀ': "l", 'Ŀ': "l", 'ſ': "s",
	'ĸ': "k", 'ŋ': "n", 'Ŋ': "n", 'ƒ': "f", 'ς': "σ",
}

// isApostrophe reports the characters removed without a break ("O'Brien" → "obrien").
func isApostrophe(r rune) bool {
	switch r {
	case '\'', '`', '´', '‘', '’', 'ʼ', 'ʻ':
		return true
	}
	return false
}

// Fold reduces s to the form every comparator starts from: Unicode compatibility-decomposed,
// accents removed, letters lower-cased and transliterated (ß→ss, ø→o, ł→l, æ→ae), apostrophes
// dropped, every other run of punctuation, symbols, spaces or control characters turned into a
// single space, trimmed, and cut to MaxValueRunes. Invalid UTF-8 bytes count as separators.
func Fold(s string) string {
	var buf [128]byte
	b := foldAppend(buf[:0], s)
	if string(b) == s {
		return s // already folded (a stored value, a lower-case name): no copy
	}
	return string(b)
}

// foldAppend appends the folded form of s to dst.
func foldAppend(dst []byte, s string) []byte {
	start := len(dst)
	if isASCII(s) {
		return foldASCII(dst, s, start)
	}
	runes := 0
	space := true // suppress leading separators
	emit := func(r rune) {
		if runes >= MaxValueRunes {
			return
		}
		if r == ' ' {
			if !space {
				dst = append(dst, ' ')
				space = true
				runes++
			}
			return
		}
		dst = utf8.AppendRune(dst, r)
		space = false
		runes++
	}
	var it norm.Iter
	it.InitString(norm.NFKD, s)
	for !it.Done() && runes < MaxValueRunes {
		seg := it.Next()
		for len(seg) > 0 {
			r, size := utf8.DecodeRune(seg)
			seg = seg[size:]
			switch {
			case r == utf8.RuneError && size <= 1:
				emit(' ')
			case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
				// accents and other combining marks: dropped
			case isApostrophe(r):
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				r = unicode.ToLower(r)
				if f, ok := letterFolds[r]; ok {
					for _, fr := range f {
						emit(fr)
					}
					continue
				}
				emit(r)
			default:
				emit(' ')
			}
		}
	}
	if len(dst) > start && dst[len(dst)-1] == ' ' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

func foldASCII(dst []byte, s string, start int) []byte {
	space := true
	n := 0
	for i := 0; i < len(s) && n < MaxValueRunes; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			dst = append(dst, c)
			space = false
			n++
		case c >= 'A' && c <= 'Z':
			dst = append(dst, c+'a'-'A')
			space = false
			n++
		case c == '\'' || c == '`':
		default:
			if !space {
				dst = append(dst, ' ')
				space = true
				n++
			}
		}
	}
	if len(dst) > start && dst[len(dst)-1] == ' ' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// cleanRaw trims s, replaces control characters with spaces and cuts it to MaxValueRunes: the
// form kept for explanations.
func cleanRaw(s string) string {
	s = strings.TrimSpace(s)
	clean := true
	n := 0
	for _, r := range s {
		n++
		if r == utf8.RuneError || unicode.IsControl(r) || n > MaxValueRunes {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	n = 0
	for _, r := range s {
		if n >= MaxValueRunes {
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}

// compact returns s without spaces.
func compact(s string) string {
	if strings.IndexByte(s, ' ') < 0 {
		return s
	}
	return strings.ReplaceAll(s, " ", "")
}

// alnumUpper keeps the letters and digits of the folded s, upper-cased: the form of identifiers
// and postcodes.
func alnumUpper(s string) string {
	f := Fold(s)
	b := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c >= 'a' && c <= 'z':
			b = append(b, c-'a'+'A')
		case c >= '0' && c <= '9':
			b = append(b, c)
		case c >= utf8.RuneSelf:
			b = append(b, c)
		}
	}
	return string(b)
}

// digitsOf returns the ASCII digits of s.
func digitsOf(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}
