package matcher

import (
	"math/rand"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	edlib "github.com/hbollon/go-edlib"
)

func TestFold(t *testing.T) {
	long := strings.Repeat("ab ", 1000)
	tests := []struct{ in, want string }{
		{"", ""},
		{"   \t\n ", ""},
		{"Robert", "robert"},
		{"  ROBERT   SMITH  ", "robert smith"},
		{"José Müller", "jose muller"},
		{"François Lefèvre", "francois lefevre"},
		{"Straße", "strasse"},
		{"STRAẞE", "strasse"},
		{"Øster Søren", "oster soren"},
		{"Łódź Wałęsa", "lodz walesa"},
		{"Æsir Œuvre", "aesir oeuvre"},
		{"Þór Ðani", "thor dani"},
		{"İstanbul ılık", "istanbul ilik"},
		{"O'Brien", "obrien"},
		{"D’Angelo", "dangelo"},
		{"Smith-Jones", "smith jones"},
		{"a.b,c;d/e", "a b c d e"},
		{"Ｓｍｉｔｈ", "smith"}, // full-width forms (compatibility decomposition)
		{"ﬁnn", "finn"},    // ligature
		{"Σοφία", "σοφια"}, // Greek keeps its letters, loses accents
		{"Иван Петров", "иван петров"},
		{"李小龍", "李小龍"},
		{"a\x00b\tc\x1bd", "a b c d"}, // control characters are separators
		{"\xff\xfeabc\xff", "abc"},    // invalid UTF-8
		{"x\u200by", "x y"},           // zero-width space
		{"e\u0301te\u0301", "ete"},    // combining accents
		{"1st & 2nd", "1st 2nd"},
	}
	for _, tt := range tests {
		if got := Fold(tt.in); got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Fold(long); utf8.RuneCountInString(got) > MaxValueRunes {
		t.Errorf("Fold of a long value kept %d runes, want at most %d", utf8.RuneCountInString(got), MaxValueRunes)
	}
	if got := Fold(strings.Repeat("é", 5000)); utf8.RuneCountInString(got) != MaxValueRunes {
		t.Errorf("Fold of a long non-ASCII value kept %d runes, want %d", utf8.RuneCountInString(got), MaxValueRunes)
	}
}

// checkFolded asserts the invariants of Fold's output.
func checkFolded(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Fold(%q) = %q: invalid UTF-8", in, out)
	}
	if strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") || strings.Contains(out, "  ") {
		t.Fatalf("Fold(%q) = %q: stray spaces", in, out)
	}
	if n := utf8.RuneCountInString(out); n > MaxValueRunes {
		t.Fatalf("Fold(%q): %d runes", in, n)
	}
	for _, r := range out {
		if unicode.IsUpper(r) && unicode.ToLower(r) != r || unicode.IsControl(r) || unicode.Is(unicode.Mn, r) {
			t.Fatalf("Fold(%q) = %q: contains %q", in, out, r)
		}
	}
	if again := Fold(out); again != out {
		t.Fatalf("Fold is not idempotent: Fold(%q) = %q, Fold of that = %q", in, out, again)
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"", "José Müller", "Straße", "\xff", "O'Brien-Smith", "Ｓｍｉｔｈ", "a\x00b", "ǅ", "ﬃ", "Σ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkFolded(t, s, Fold(s))
	})
}

// FuzzNormalizers feeds arbitrary input to every normaliser: none may panic, and each output
// must be stable when normalised again.
func FuzzNormalizers(f *testing.F) {
	for _, s := range []string{"", "Bob.Smyth+crm@GoogleMail.com", "+44 (0)20 7946 0958 ext. 12", "12/5 High St.", "I.B.M. Corp", "/Date(123)/", "1970-13-45", "http://www.x.com/a", "\xff@\xfe", "00000000"} {
		f.Add(s)
	}
	lex := BuiltinLexicon()
	f.Fuzz(func(t *testing.T, s string) {
		e := NormalizeEmail(s, true)
		if again := NormalizeEmail(e, true); again != e {
			t.Fatalf("NormalizeEmail not stable: %q → %q → %q", s, e, again)
		}
		p := NormalizePhone(s, "GB")
		if p != "" && strings.TrimLeft(p, "+0123456789") != "" {
			t.Fatalf("NormalizePhone(%q) = %q: not digits", s, p)
		}
		w := NormalizeWebsite(s)
		if w != "" && NormalizeWebsite(w) != w {
			t.Fatalf("NormalizeWebsite not stable: %q → %q → %q", s, w, NormalizeWebsite(w))
		}
		for _, tok := range companyTokens(lex, s, true) {
			checkFolded(t, s, tok)
		}
		var v value
		prepareDate(&v, s)
		prepareAddress(&v, s)
		_ = alnumUpper(s)
		_ = cleanRaw(s)
		a, b := DoubleMetaphone(s)
		if len(a) > 4 || len(b) > 4 {
			t.Fatalf("DoubleMetaphone(%q) = %q, %q: longer than 4", s, a, b)
		}
	})
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		in       string
		provider bool
		want     string
	}{
		{"", false, ""},
		{" Bob.Smyth@Example.COM ", false, "bob.smyth@example.com"},
		{"mailto:bob@example.com", false, "bob@example.com"},
		{"Bob Smyth <bob@example.com>", false, "bob@example.com"},
		{"bob @ example.com.", false, "bob@example.com"},
		{"b.o.b+crm@googlemail.com", false, "b.o.b+crm@googlemail.com"},
		{"b.o.b+crm@googlemail.com", true, "bob@gmail.com"},
		{"Bob.Smyth+news@gmail.com", true, "bobsmyth@gmail.com"},
		{"bob.smyth+x@outlook.com", true, "bob.smyth@outlook.com"},
		{"bob.smyth+x@example.com", true, "bob.smyth+x@example.com"},
		{"not an email", false, "notanemail"},
		{"a@b@c", false, "a@b@c"},
		{"ÉLODIE@exemple.fr", false, "élodie@exemple.fr"},
	}
	for _, tt := range tests {
		if got := NormalizeEmail(tt.in, tt.provider); got != tt.want {
			t.Errorf("NormalizeEmail(%q, %v) = %q, want %q", tt.in, tt.provider, got, tt.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct{ in, region, want string }{
		{"", "GB", ""},
		{"no phone", "GB", ""},
		{"+44 20 7946 0958", "", "+442079460958"},
		{"020 7946 0958", "GB", "+442079460958"},
		{"(020) 7946-0958 ext. 12", "GB", "+442079460958"},
		{"0044 20 7946 0958", "", "+442079460958"},
		{"+44 (0)20 7946 0958", "US", "+442079460958"},
		{"(312) 555-0134", "US", "+13125550134"},
		{"312.555.0134 x99", "US", "+13125550134"},
		{"020 7946 0958", "", "02079460958"}, // no region: digits only
		{"\x00+44\x0020 7946 0958", "", "+442079460958"},
	}
	for _, tt := range tests {
		if got := NormalizePhone(tt.in, tt.region); got != tt.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, want %q", tt.in, tt.region, got, tt.want)
		}
	}
	if got := NormalizePhone(strings.Repeat("9", 500), "GB"); len(got) > MaxValueRunes+1 {
		t.Errorf("NormalizePhone of 500 digits returned %d characters", len(got))
	}
}

func TestPlaceholderPhones(t *testing.T) {
	for _, d := range []string{"0000000", "441111111", "1234567", "0123456789", "9876543", "123"} {
		if !isPlaceholderPhone(d) {
			t.Errorf("isPlaceholderPhone(%q) = false", d)
		}
	}
	for _, d := range []string{"442079460958", "13125550134", "7295325"} {
		if isPlaceholderPhone(d) {
			t.Errorf("isPlaceholderPhone(%q) = true", d)
		}
	}
}

func TestNormalizeWebsite(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"No", ""},
		{"n/a", ""},
		{"https://www.Contoso.com/about?x=1", "contoso.com"},
		{"www.contoso.com.", "contoso.com"},
		{"contoso.co.uk:8080/", "contoso.co.uk"},
		{"http://user@contoso.com", "contoso.com"},
	}
	for _, tt := range tests {
		if got := NormalizeWebsite(tt.in); got != tt.want {
			t.Errorf("NormalizeWebsite(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompanyTokens(t *testing.T) {
	lex := BuiltinLexicon()
	tests := []struct{ in, want string }{
		{"Acme Ltd.", "acme"},
		{"ACME LIMITED", "acme"},
		{"The Widget Company", "widget"},
		{"Smith & Sons", "smith sons"},
		{"Smith and Sons Inc", "smith sons"},
		{"I.B.M. Corp", "ibm"},
		{"Müller GmbH & Co. KG", "muller"},
		{"Contoso Pty Ltd", "contoso"},
		{"Ltd", "ltd"}, // never stripped to nothing
		{"Abraham Lincoln Centre", "abraham lincoln center"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(companyTokens(lex, tt.in, true), " "); got != tt.want {
			t.Errorf("companyTokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrepareAddress(t *testing.T) {
	tests := []struct{ in, norm, num, unit string }{
		{"12 High Street", "12 high st", "12", ""},
		{"12 High St.", "12 high st", "12", ""},
		{"Flat 3, 12 High St", "12 u3 high st", "12", "3"},
		{"3/12 High St", "12 u3 high st", "12", "3"},
		{"12 High St #4", "12 u4 high st", "12", "4"},
		{"707 E. 37th St.", "707 e 37th st", "707", ""},
		{"54 pridhamstreet", "54 pridham st", "54", ""},
		{"St Kilda Road", "st kilda rd", "", ""},
		{"", "", "", ""},
	}
	for _, tt := range tests {
		var v value
		prepareAddress(&v, tt.in)
		if v.norm != tt.norm || v.num != tt.num || v.unit != tt.unit {
			t.Errorf("prepareAddress(%q) = %q num %q unit %q, want %q num %q unit %q", tt.in, v.norm, v.num, v.unit, tt.norm, tt.num, tt.unit)
		}
	}
}

func TestPrepareDate(t *testing.T) {
	tests := []struct {
		in, want string
		valid    bool
	}{
		{"1970-03-04", "19700304", true},
		{"1970-03-04T00:00:00Z", "19700304", true},
		{"1970-03-04 10:30", "19700304", true},
		{"19700304", "19700304", true},
		{"04/03/1970", "19700304", true}, // day first
		{"12/25/1970", "19701225", true}, // month first when the second number is above 12
		{"04.03.1970", "19700304", true},
		{"/Date(5616000000)/", "19700307", true},
		{"/Date(5616000000+0100)/", "19700307", true},
		{"1945-04-93", "19450493", false}, // not a real date: the digits still compare
		{"yesterday", "yesterday", false},
		{"", "", false},
	}
	for _, tt := range tests {
		var v value
		prepareDate(&v, tt.in)
		if v.norm != tt.want || (v.days != 0) != tt.valid {
			t.Errorf("prepareDate(%q) = %q (valid %v), want %q (valid %v)", tt.in, v.norm, v.days != 0, tt.want, tt.valid)
		}
	}
}

func TestDoubleMetaphone(t *testing.T) {
	// Expected codes agree with the Apache Commons Codec implementation of the published
	// algorithm.
	tests := []struct{ in, p, a string }{
		{"smith", "SM0", "XMT"},
		{"schmidt", "XMT", "SMT"},
		{"thompson", "TMPS", "TMPS"},
		{"jose", "HS", "HS"},
		{"xavier", "SF", "SFR"},
		{"catherine", "K0RN", "KTRN"},
		{"kathryn", "K0RN", "KTRN"},
		{"gough", "KF", "KF"},
		{"dumb", "TM", "TM"},
		{"caesar", "SSR", "SSR"},
		{"schlesinger", "XLSN", "SLSN"},
		{"cabrillo", "KPRL", "KPR"},
		{"gallegos", "KLKS", "KKS"},
		{"thumb", "0M", "TM"},
		{"campbell", "KMPL", "KMPL"},
		{"knight", "NT", "NT"},
		{"arnow", "ARN", "ARNF"},
		{"filipowicz", "FLPT", "FLPF"},
		{"michael", "MKL", "MXL"},
		{"chemistry", "KMST", "KMST"},
		{"orchestra", "ARKS", "ARKS"},
		{"mchugh", "MK", "MK"},
		{"czerny", "SRN", "XRN"},
		{"focaccia", "FKX", "FKX"},
		{"accident", "AKST", "AKST"},
		{"bacci", "PX", "PX"},
		{"tagliaro", "TKLR", "TLR"},
		{"ghislane", "JLN", "JLN"},
		{"hugh", "H", "H"},
		{"laugh", "LF", "LF"},
		{"cagney", "KKN", "KKN"},
		{"biaggi", "PJ", "PK"},
		{"danger", "TNJR", "TNKR"},
		{"island", "ALNT", "ALNT"},
		{"sugar", "XKR", "SKR"},
		{"school", "SKL", "SKL"},
		{"schenker", "XNKR", "SKNK"},
		{"snider", "SNTR", "XNTR"},
		{"wasserman", "ASRM", "FSRM"},
		{"zhao", "J", "J"},
		{"jankelowicz", "JNKL", "ANKL"},
		{"rogier", "RJ", "RJR"},
		{"edge", "AJ", "AJ"},
		{"edgar", "ATKR", "ATKR"},
		{"wright", "RT", "RT"},
		{"gnome", "NM", "NM"},
		{"jacques", "JKS", "AKS"},
		{"", "", ""},
		{"123", "", ""},
		{"Smith-Jones", "SM0J", "XMTJ"},
	}
	for _, tt := range tests {
		p, a := DoubleMetaphone(tt.in)
		if p != tt.p || a != tt.a {
			t.Errorf("DoubleMetaphone(%q) = %q, %q; want %q, %q", tt.in, p, a, tt.p, tt.a)
		}
	}
}

func TestEditDistances(t *testing.T) {
	tests := []struct {
		a, b         string
		lev, dam     int
		jwMin, jwMax float64
	}{
		{"", "", 0, 0, 0, 0},
		{"abc", "", 3, 3, 0, 0},
		{"martha", "marhta", 2, 1, 0.96, 0.962},
		{"dwayne", "duane", 2, 2, 0.84, 0.841},
		{"dixon", "dicksonx", 4, 4, 0.81, 0.814},
		{"smith", "smith", 0, 0, 1, 1},
		{"ca", "abc", 3, 3, 0, 1},
		{"müller", "muller", 1, 1, 0.88, 0.9},
		{"łukasz", "lukasz", 1, 1, 0.88, 0.9},
	}
	for _, tt := range tests {
		if got := Levenshtein(tt.a, tt.b); got != tt.lev {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.lev)
		}
		if got := Damerau(tt.a, tt.b); got != tt.dam {
			t.Errorf("Damerau(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.dam)
		}
		if got := JaroWinkler(tt.a, tt.b); got < tt.jwMin || got > tt.jwMax {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want in [%.3f, %.3f]", tt.a, tt.b, got, tt.jwMin, tt.jwMax)
		}
	}
}

// TestFastPathsAgreeWithEdlib checks the allocation-free ASCII paths against go-edlib on
// random strings over a small alphabet (so that many characters repeat).
func TestFastPathsAgreeWithEdlib(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	word := func() string {
		b := make([]byte, rng.Intn(12))
		for i := range b {
			b[i] = "abcde"[rng.Intn(5)]
		}
		return string(b)
	}
	for i := 0; i < 5000; i++ {
		a, b := word(), word()
		if got, want := Levenshtein(a, b), edlib.LevenshteinDistance(a, b); got != want {
			t.Fatalf("Levenshtein(%q, %q) = %d, edlib %d", a, b, got, want)
		}
		if got, want := Damerau(a, b), edlib.OSADamerauLevenshteinDistance(a, b); got != want {
			t.Fatalf("Damerau(%q, %q) = %d, edlib %d", a, b, got, want)
		}
		if a != "" && b != "" {
			if got, want := JaroWinkler(a, b), float64(edlib.JaroWinklerSimilarity(a, b)); got-want > 1e-5 || want-got > 1e-5 {
				t.Fatalf("JaroWinkler(%q, %q) = %.6f, edlib %.6f", a, b, got, want)
			}
		}
		if d := Damerau(a, b); withinOneEdit(a, b) != (d == 1) {
			t.Fatalf("withinOneEdit(%q, %q) = %v, Damerau %d", a, b, withinOneEdit(a, b), d)
		}
		for max := 0; max < 4; max++ {
			d := Damerau(a, b)
			got := damerauMax(a, b, max)
			if d <= max && got != d || d > max && got <= max {
				t.Fatalf("damerauMax(%q, %q, %d) = %d, Damerau %d", a, b, max, got, d)
			}
		}
	}
}
