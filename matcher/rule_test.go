package matcher

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// compareOne compiles a one-field rule and compares two raw values with it.
func compareOne(t *testing.T, comparator, a, b string, opts ...func(*FieldSpec)) (float64, string, Result) {
	t.Helper()
	fs := FieldSpec{Attr: "x", Comparator: comparator}
	for _, o := range opts {
		o(&fs)
	}
	r, err := Compile(RuleSpec{Name: "t", Entity: "contact", Fields: []FieldSpec{fs}, DefaultRegion: "GB"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := r.Score(r.Prepare(Record{Attrs: map[string]string{"x": a}}), r.PrepareCandidate(Record{Attrs: map[string]string{"x": b}}))
	if len(res.Fields) == 0 {
		return 0, "blank", res
	}
	return res.Fields[0].Similarity, res.Fields[0].Note, res
}

func TestComparators(t *testing.T) {
	provider := func(f *FieldSpec) { f.ProviderRules = true }
	tests := []struct {
		cmp, a, b string
		note      string
		min, max  float64
		opts      []func(*FieldSpec)
	}{
		{"exact", "Smith", "Smith", "equal", 1, 1, nil},
		{"exact", "Smith", "smith", "different", 0, 0, nil},
		{"normalized", "José Müller", "JOSE MULLER", "normalised", 1, 1, nil},
		{"normalized", "Strauß", "Strauss", "normalised", 1, 1, nil},
		{"jarowinkler", "Martha", "Marhta", "similar", 0.96, 0.97, nil},
		{"levenshtein", "kitten", "sitting", "different", 0.5, 0.6, nil},
		{"damerau", "wxyz", "wxzy", "similar", 0.75, 0.75, nil},

		{"firstname", "Bob", "Robert", "nickname", 0.95, 0.95, nil},
		{"firstname", "Bob", "Rob", "nickname", 0.95, 0.95, nil},
		{"firstname", "Bill", "William", "nickname", 0.95, 0.95, nil},
		{"firstname", "J", "John", "initial", 0.85, 0.85, nil},
		{"firstname", "J.", "Mary", "different", 0, 0, nil},
		{"firstname", "Jonh", "John", "similar", 0.9, 0.98, nil},
		{"firstname", "Jon", "John", "nickname", 0.95, 0.95, nil},
		{"firstname", "John Paul", "John", "part-of", 0.9, 0.9, nil},
		{"firstname", "Zoë", "Zoe", "normalised", 1, 1, nil},
		{"firstname", "Anna-Maria", "Annamaria", "normalised", 0.98, 0.98, nil},
		{"firstname", "Mary", "Peter", "different", 0, 0.6, nil},
		{"lastname", "Phillips", "Fillips", "phonetic", 0.88, 0.88, nil},
		{"lastname", "Smyth", "Smith", "similar", 0.88, 0.9, nil},
		{"lastname", "Smith", "Smith-Jones", "part-of", 0.9, 0.9, nil},
		{"lastname", "Łukasiewicz", "Lukasiewicz", "normalised", 1, 1, nil},
		{"lastname", "Øster", "Oster", "normalised", 1, 1, nil},
		{"personname", "Robert Smith", "Smith, Robert", "word-order", 0.95, 1, nil},
		{"personname", "Bob Smith", "Robert Smith", "nickname", 0.95, 0.99, nil},
		{"personname", "Dr. R. Smith", "Robert Smith", "initial", 0.9, 0.95, nil},

		{"email", " Bob.Smyth@Contoso.com", "bob.smyth@contoso.com", "normalised", 1, 1, nil},
		{"email", "bob.smyth+crm@gmail.com", "bobsmyth@googlemail.com", "normalised", 1, 1, []func(*FieldSpec){provider}},
		{"email", "bob.smyth+crm@gmail.com", "bobsmyth@googlemail.com", "different", 0, 0.8, nil},
		{"email", "bob.smyth@cnotoso.com", "bob.smyth@contoso.com", "similar", 0.9, 0.96, nil},
		{"email", "bob.smyth@acme.com", "bob.smyth@fabrikam.com", "same-mailbox", 0.85, 0.85, nil},
		{"email", "info@acme.com", "info@acme.com", "blank", 0, 0, nil},
		{"email", "someone@noemail.com", "someone@noemail.com", "blank", 0, 0, nil},

		{"phone", "+44 20 7946 0958", "020 7946 0958", "normalised", 1, 1, nil},
		{"phone", "(020) 7946-0958", "020 7946 0958 ext 4", "normalised", 1, 1, nil},
		{"phone", "020 7946 0958", "020 7946 0959", "one-digit", 0.75, 0.75, nil},
		{"phone", "020 7946 0958", "020 7946 1111", "different", 0, 0, nil},
		{"phone", "000 0000 0000", "000 0000 0000", "blank", 0, 0, nil},

		{"company", "Acme Ltd.", "ACME Limited", "normalised", 1, 1, nil},
		{"company", "Smith & Sons", "Smith and Sons Inc", "normalised", 1, 1, nil},
		{"company", "The Widget Company", "Widget Co", "normalised", 1, 1, nil},
		{"company", "I.B.M.", "IBM Corporation", "normalised", 1, 1, nil},
		{"company", "Contoso Pharma", "Pharma Contoso", "word-order", 0.99, 1, nil},
		{"company", "Northwind Traders", "Fabrikam Inc", "different", 0, 0.6, nil},

		{"address", "12 High Street", "12 High St.", "normalised", 1, 1, nil},
		{"address", "Flat 3, 12 High St", "Flat 4, 12 High St", "unit-differs", 0.7, 0.8, nil},
		{"address", "12 High St", "48 High St", "different", 0.5, 0.6, nil},
		{"address", "12 High St", "21 High St", "house-number-differs", 0.74, 0.76, nil},
		{"address", "12 High St", "14 High St", "house-number-differs", 0.74, 0.76, nil},
		{"address", "12 High Street", "12 Hgih Street", "similar", 0.9, 0.99, nil},

		{"date", "1970-03-04", "1970-03-04T00:00:00Z", "normalised", 1, 1, nil},
		{"date", "1970-03-04", "04/03/1970", "normalised", 1, 1, nil},
		{"date", "1970-03-04", "1970-04-03", "day-month-swapped", 0.8, 0.8, nil},
		{"date", "1970-03-04", "1970-03-05", "one-day", 0.8, 0.8, nil},
		{"date", "1970-03-04", "1971-03-04", "one-digit", 0.75, 0.75, nil},
		{"date", "1970-03-04", "1980-03-14", "different", 0, 0, nil},
		{"date", "1900-01-01", "1900-01-01", "blank", 0, 0, nil},

		{"postcode", "SW1A 1AA", "sw1a1aa", "normalised", 1, 1, nil},
		{"postcode", "60610", "60610-1234", "part-of", 0.95, 0.95, nil},
		{"postcode", "3070", "3007", "one-digit", 0.7, 0.7, nil},
		{"identifier", "QQ 12 34 56 C", "qq123456c", "normalised", 1, 1, nil},
		{"identifier", "5714791", "5714719", "one-digit", 0.88, 0.88, nil},
		{"identifier", "000000000", "000000000", "blank", 0, 0, nil},
		{"website", "https://www.contoso.com/", "contoso.com", "normalised", 1, 1, nil},
		{"website", "No", "No", "blank", 0, 0, nil},

		// Placeholders never match, whatever the comparator.
		{"firstname", "Test", "test", "blank", 0, 0, nil},
		{"lastname", "Unknown", "UNKNOWN", "blank", 0, 0, nil},
		{"normalized", "N/A", "n/a", "blank", 0, 0, nil},
	}
	for _, tt := range tests {
		sim, note, _ := compareOne(t, tt.cmp, tt.a, tt.b, tt.opts...)
		if note != tt.note || sim < tt.min-1e-9 || sim > tt.max+1e-9 {
			t.Errorf("%s(%q, %q) = %.3f %s, want %s in [%.2f, %.2f]", tt.cmp, tt.a, tt.b, sim, note, tt.note, tt.min, tt.max)
		}
	}
}

func TestBadInputIsBlank(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	for _, cmp := range Comparators() {
		for _, in := range []string{"", "   ", "\x00\x01\x02", "\xff\xfe", "---", long} {
			sim, _, _ := compareOne(t, cmp, in, in)
			if in != long && sim > 0 {
				t.Errorf("%s(%q, %q) = %.2f, want blank", cmp, in, in, sim)
			}
		}
	}
}

// contactRule is a rule shaped like the shipped contact rule.
func contactRule(t testing.TB, explainMin float64) *Rule {
	t.Helper()
	r, err := Compile(RuleSpec{
		Name: "contact", Entity: "contact", Scoring: ScoringEvidence, Prior: -12, ExplainMin: explainMin,
		DefaultRegion: "GB",
		Fields: []FieldSpec{
			{Attr: "emailaddress1", Comparator: "email", Weight: 16, Penalty: 2, Strong: true},
			{Attr: "telephone1", Comparator: "phone", Weight: 12, Penalty: 1},
			{Attr: "firstname", Comparator: "firstname", Weight: 7, Penalty: 3},
			{Attr: "lastname", Comparator: "lastname", Weight: 9, Penalty: 3},
			{Attr: "birthdate", Comparator: "date", Weight: 14, Penalty: 3},
		},
		Keys: []KeySpec{
			{Parts: []KeyPart{{Attr: "emailaddress1", Transform: "local"}}},
			{Parts: []KeyPart{{Attr: "telephone1", Transform: "digits"}}},
			{Name: "nm", Parts: []KeyPart{{Attr: "lastname", Transform: "phonetic"}, {Attr: "firstname", Transform: "initial"}}},
			{Name: "nm", Parts: []KeyPart{{Attr: "firstname", Transform: "phonetic"}, {Attr: "lastname", Transform: "initial"}}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rec(id string, kv ...string) Record {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return Record{Entity: "contact", ID: id, Attrs: m}
}

func TestScoreExplainsBobSmyth(t *testing.T) {
	r := contactRule(t, 0.8)
	a := r.Prepare(rec("", "firstname", "Bob", "lastname", "Smyth", "telephone1", "+44 20 7946 0958"))
	b := r.PrepareCandidate(rec("1", "firstname", "Robert", "lastname", "Smith", "telephone1", "020 7946 0958"))
	res := r.Score(a, b)
	if res.Score < 0.99 {
		t.Fatalf("score %.4f, want a block-level match", res.Score)
	}
	got := strings.Join(res.Reasons, "; ")
	for _, want := range []string{"phone equal after normalisation", "first name Bob ~ Robert (nickname)", "last name Smyth ~ Smith (similar)"} {
		if !strings.Contains(got, want) {
			t.Errorf("reasons %q lack %q", got, want)
		}
	}
	if len(res.Fields) != 3 {
		t.Errorf("fields %v, want the 3 filled on both sides", res.Fields)
	}
}

func TestScoreEvidence(t *testing.T) {
	r := contactRule(t, 0)
	tests := []struct {
		name     string
		a, b     Record
		min, max float64
	}{
		{"same person", rec("", "firstname", "Anna", "lastname", "Kowalska", "birthdate", "1980-01-02", "emailaddress1", "anna@k.pl"),
			rec("1", "firstname", "Anna", "lastname", "Kowalska", "birthdate", "1980-01-02", "emailaddress1", "anna@k.pl"), 0.999, 1},
		{"same name only", rec("", "firstname", "John", "lastname", "Smith"), rec("1", "firstname", "John", "lastname", "Smith"), 0.5, 0.99},
		{"same name, other birth date", rec("", "firstname", "John", "lastname", "Smith", "birthdate", "1980-01-02"),
			rec("1", "firstname", "John", "lastname", "Smith", "birthdate", "1955-07-30"), 0, 0.8},
		{"household: shared phone, other person", rec("", "firstname", "Jane", "lastname", "Smith", "telephone1", "020 7946 0958", "birthdate", "1982-05-06"),
			rec("1", "firstname", "Peter", "lastname", "Smith", "telephone1", "020 7946 0958", "birthdate", "1950-11-12"), 0, 0.99},
		{"nothing in common", rec("", "firstname", "Ann"), rec("1", "lastname", "Lee"), 0, 0.001},
	}
	for _, tt := range tests {
		res := r.Score(r.Prepare(tt.a), r.PrepareCandidate(tt.b))
		if res.Score < tt.min || res.Score > tt.max {
			t.Errorf("%s: score %.4f, want in [%.3f, %.3f] (%v)", tt.name, res.Score, tt.min, tt.max, res.Reasons)
		}
	}
}

func TestSwappedNames(t *testing.T) {
	r := contactRule(t, 0)
	a := r.Prepare(rec("", "firstname", "Hall", "lastname", "Isla", "birthdate", "1985-02-07"))
	b := r.PrepareCandidate(rec("1", "firstname", "Isla", "lastname", "Hall", "birthdate", "1985-02-07"))
	res := r.Score(a, b)
	if res.Score < 0.99 || !strings.Contains(strings.Join(res.Reasons, ";"), "first and last name swapped") {
		t.Fatalf("swapped names: score %.4f reasons %v", res.Score, res.Reasons)
	}
	// The swap also files both records under a common key.
	if !shareKey(r.BlockingKeys(a), r.IndexKeys(rec("1", "firstname", "Isla", "lastname", "Hall"))) {
		t.Error("swapped names share no blocking key")
	}
}

func TestWeightedScoring(t *testing.T) {
	r, err := Compile(RuleSpec{Name: "w", Entity: "contact", Fields: []FieldSpec{
		{Attr: "emailaddress1", Comparator: "email", Weight: 3},
		{Attr: "lastname", Comparator: "lastname", Weight: 1},
		{Attr: "firstname", Comparator: "firstname", Required: true, MinSimilarity: 0.9},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	score := func(a, b Record) float64 { return r.Score(r.Prepare(a), r.PrepareCandidate(b)).Score }
	if got := score(rec("", "emailaddress1", "a@b.co", "lastname", "Lee", "firstname", "Ann"), rec("1", "emailaddress1", "a@b.co", "lastname", "Lee", "firstname", "Ann")); got != 1 {
		t.Errorf("identical records score %v, want 1", got)
	}
	// Blank values are ignored: email (3) agrees, last name missing → 3·1 + 1·1 (first) / 4.
	if got := score(rec("", "emailaddress1", "a@b.co", "firstname", "Ann"), rec("1", "emailaddress1", "a@b.co", "lastname", "Lee", "firstname", "Ann")); got != 1 {
		t.Errorf("blank ignored: score %v, want 1", got)
	}
	// A required field below its minimum zeroes the score.
	if got := score(rec("", "emailaddress1", "a@b.co", "firstname", "Ann"), rec("1", "emailaddress1", "a@b.co", "firstname", "Zoe")); got != 0 {
		t.Errorf("required field failed: score %v, want 0", got)
	}
	if got := score(rec("", "emailaddress1", "a@b.co"), rec("1", "emailaddress1", "a@b.co", "firstname", "Zoe")); got != 0 {
		t.Errorf("required field blank: score %v, want 0", got)
	}
}

func shareKey(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

func TestBlockingKeys(t *testing.T) {
	r := contactRule(t, 0)
	a := r.Prepare(rec("", "firstname", "Bob", "lastname", "Smyth", "emailaddress1", "Bob.Smyth@Contoso.com", "telephone1", "+44 20 7946 0958"))
	b := rec("1", "firstname", "Robert", "lastname", "Smith", "emailaddress1", "bob.smyth@contoso.org", "telephone1", "020 7946 0958")
	ka, kb := r.BlockingKeys(a), r.IndexKeys(b)
	if !shareKey(ka, kb) {
		t.Fatalf("no shared key:\n%v\n%v", ka, kb)
	}
	for _, k := range append(ka, kb...) {
		if !strings.HasPrefix(k, "contact|") || len(k) > 40 {
			t.Errorf("key %q: want contact|… and at most 40 bytes", k)
		}
		if strings.Contains(strings.ToLower(k), "smyth") || strings.Contains(k, "7946") {
			t.Errorf("key %q carries personal data in clear", k)
		}
	}
	if len(ka) > 6 {
		t.Errorf("%d keys for one record, want a handful", len(ka))
	}
	// Placeholders and blanks make no keys.
	p := r.Prepare(rec("", "firstname", "test", "lastname", "unknown", "emailaddress1", "info@acme.com", "telephone1", "0000000000"))
	if keys := r.BlockingKeys(p); len(keys) != 0 {
		t.Errorf("placeholder record has keys %v", keys)
	}
	// Strong keys name the attribute (for the "concurrent save" message).
	if sk := r.StrongKeys(a); len(sk) != 1 || !strings.HasPrefix(sk[0], "contact|emailaddress1|") {
		t.Errorf("strong keys %v", sk)
	}
}

func TestCrossTableKeysMatchCandidateIndexKeys(t *testing.T) {
	spec := func(entity, cand string) RuleSpec {
		return RuleSpec{Name: entity + "-" + cand, Entity: entity, CandidateEntity: cand, Scoring: ScoringEvidence,
			Fields: []FieldSpec{{Attr: "emailaddress1", Comparator: "email"}, {Attr: "lastname", Comparator: "lastname"}},
			Keys:   []KeySpec{{Parts: []KeyPart{{Attr: "emailaddress1"}}}}}
	}
	cross, err := Compile(spec("lead", "contact"), nil)
	if err != nil {
		t.Fatal(err)
	}
	same, err := Compile(spec("contact", "contact"), nil)
	if err != nil {
		t.Fatal(err)
	}
	lead := Record{Entity: "lead", Attrs: map[string]string{"emailaddress1": "Ann@Contoso.com"}}
	contact := Record{Entity: "contact", ID: "c1", Attrs: map[string]string{"emailaddress1": "ann@contoso.com"}}
	lk := cross.BlockingKeys(cross.Prepare(lead))
	if len(lk) != 1 || lk[0] != same.IndexKeys(contact)[0] || lk[0] != cross.IndexKeys(contact)[0] {
		t.Fatalf("lead keys %v, contact keys %v / %v", lk, same.IndexKeys(contact), cross.IndexKeys(contact))
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile(RuleSpec{
		Entity:  "contact",
		Scoring: "magic",
		Fields: []FieldSpec{
			{Attr: "firstname", Comparator: "jaro"},
			{Attr: "firstname", Comparator: "firstname", Weight: -1},
			{Attr: "lastname", Comparator: "lastname", Floor: 1.5, ProviderRules: true},
		},
		Keys:          []KeySpec{{Parts: []KeyPart{{Attr: "birthdate"}}}, {Parts: []KeyPart{{Attr: "lastname", Transform: "year"}}}, {Parts: []KeyPart{{Attr: "lastname", Transform: "soundex"}}}},
		DefaultRegion: "XX",
	}, nil)
	var se SpecErrors
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want SpecErrors", err)
	}
	want := []string{
		`name: rule has no name`,
		`scoring: unknown scoring "magic"`,
		`default_region: "XX" is not`,
		`fields[0].comparator: unknown comparator "jaro"`,
		`fields[1].attr: attribute "firstname" is already compared by fields[0]`,
		`fields[1].weight: must be a non-negative number`,
		`fields[2].floor: must be in [0,1)`,
		`fields[2].provider_rules: only applies to the email comparator`,
		`blocking[0][0]: attribute "birthdate" is not one of the rule's fields`,
		`blocking[1][0]: transform "year" does not apply to the lastname comparator`,
		`blocking[2][0]: unknown transform "soundex"`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("errors lack %q:\n%s", w, strings.ReplaceAll(msg, "; ", "\n"))
		}
	}
	if len(se) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(se), len(want), strings.ReplaceAll(msg, "; ", "\n"))
	}
}

// TestScoreDoesNotAllocate checks that scoring a non-matching pair allocates nothing: the
// hot loop of a check.
func TestScoreDoesNotAllocate(t *testing.T) {
	r := contactRule(t, 0.8)
	a := r.Prepare(rec("", "firstname", "Bob", "lastname", "Smyth", "emailaddress1", "bob@contoso.org", "telephone1", "020 7946 0958", "birthdate", "1970-03-04"))
	b := r.PrepareCandidate(rec("1", "firstname", "Roberta", "lastname", "Smithers", "emailaddress1", "r.smithers@contoso.com", "telephone1", "020 7946 1234", "birthdate", "1971-04-04"))
	if res := r.Score(a, b); res.Score >= 0.8 {
		t.Fatalf("pair should not match: %.3f", res.Score)
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.Score(a, b) }); n != 0 {
		t.Errorf("Score allocates %.0f times per non-matching pair", n)
	}
}

func TestCandidateCache(t *testing.T) {
	r := contactRule(t, 0)
	c := rec("1", "firstname", "Ann", "lastname", "Lee")
	p1 := r.PrepareCandidate(c)
	if p2 := r.PrepareCandidate(rec("1", "firstname", "Ann", "lastname", "Lee", "other", "x")); p2 != p1 {
		t.Error("unchanged candidate was prepared again")
	}
	p3 := r.PrepareCandidate(rec("1", "firstname", "Anne", "lastname", "Lee"))
	if p3 == p1 || r.Score(r.Prepare(rec("", "firstname", "Anne")), p3).Fields[0].Note != "equal" {
		t.Error("changed candidate served from the cache")
	}
}

func TestConcurrentScoring(t *testing.T) {
	r := contactRule(t, 0.5)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			a := r.Prepare(rec("", "firstname", "Bob", "lastname", "Smith", "telephone1", "020 7946 0958"))
			for i := 0; i < 200; i++ {
				c := rec(fmt.Sprint(i%50), "firstname", "Robert", "lastname", "Smith", "telephone1", fmt.Sprintf("020 7946 %04d", i%50+g))
				_ = r.Score(a, r.PrepareCandidate(c))
				_ = r.IndexKeys(c)
			}
		}(g)
	}
	wg.Wait()
}

func TestLexicon(t *testing.T) {
	lex, err := NewLexicon(strings.NewReader("name1,relationship,name2\nmargaret,has_nickname,peggy\n"), strings.NewReader("types:\n- main: bv\n  forms: [besloten vennootschap]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"Peggy", "Margaret"}, {"Bob", "Robert"}, {"Rob", "Bobby"}} {
		if !lex.Nicknames(p[0], p[1]) {
			t.Errorf("Nicknames(%q, %q) = false", p[0], p[1])
		}
	}
	if lex.Nicknames("Robert", "Margaret") {
		t.Error("Robert and Margaret are not nicknames")
	}
	if m, ok := lex.LegalForm("Besloten Vennootschap"); !ok || m != "bv" {
		t.Errorf("LegalForm = %q, %v", m, ok)
	}
	if got := lex.CanonicalName("Bobby"); got != "robert" {
		t.Errorf("CanonicalName(Bobby) = %q", got)
	}
	if _, err := NewLexicon(strings.NewReader("a,is_not,b\n"), nil); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad relationship: err = %v", err)
	}
	if _, err := NewLexicon(nil, strings.NewReader("types: [")); err == nil {
		t.Error("bad YAML accepted")
	}
	if _, err := LoadLexicon(LexiconFiles{Nicknames: "/nonexistent/names.csv"}); err == nil {
		t.Error("missing configured file accepted")
	}
	if _, err := LoadLexicon(LexiconFiles{DefaultRegion: "ZZ"}); err == nil {
		t.Error("unknown region accepted")
	}
}

func TestLexiconFromDatasets(t *testing.T) {
	lex, err := LoadLexicon(LexiconFiles{
		Nicknames:       "../" + DefaultNicknamesFile,
		CompanySuffixes: "../" + DefaultCompanySuffixesFile,
	})
	if err != nil {
		t.Skipf("datasets not available: %v", err)
	}
	names, forms := lex.Stats()
	if names < 1000 || forms < 500 {
		t.Errorf("lexicon has %d names and %d legal forms, want the dataset's thousands", names, forms)
	}
	if !lex.Nicknames("Abbigail", "Abbe") {
		t.Error("dataset nickname missing")
	}
	if _, ok := lex.LegalForm("aktiengesellschaft"); !ok {
		t.Error("dataset legal form missing")
	}
}
