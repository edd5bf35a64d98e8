package matcher

import (
	"fmt"
	"testing"
)

// benchRule is a contact rule shaped like the shipped one.
func benchRule(b testing.TB, cache int) *Rule {
	b.Helper()
	r, err := Compile(RuleSpec{
		Name: "contact", Entity: "contact", Scoring: ScoringEvidence, Prior: -12, ExplainMin: 0.8,
		CandidateCache: cache,
		DefaultRegion:  "GB",
		Fields: []FieldSpec{
			{Attr: "emailaddress1", Comparator: "email", Weight: 16, Penalty: 2, ProviderRules: true},
			{Attr: "telephone1", Comparator: "phone", Weight: 12, Penalty: 1},
			{Attr: "governmentid", Comparator: "identifier", Weight: 20, Penalty: 4},
			{Attr: "firstname", Comparator: "firstname", Weight: 7, Penalty: 3},
			{Attr: "lastname", Comparator: "lastname", Weight: 9, Penalty: 3},
			{Attr: "birthdate", Comparator: "date", Weight: 14, Penalty: 3},
			{Attr: "address1_line1", Comparator: "address", Weight: 8, Penalty: 2},
			{Attr: "address1_postalcode", Comparator: "postcode", Weight: 4, Penalty: 1.5},
			{Attr: "address1_city", Comparator: "jarowinkler", Weight: 2, Penalty: 1},
		},
		Keys: []KeySpec{{Parts: []KeyPart{{Attr: "lastname", Transform: "phonetic"}, {Attr: "firstname", Transform: "initial"}}}},
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

var firstNames = []string{"Robert", "Bob", "Rob", "Roberta", "Bobby", "Robin", "Rupert", "Albert", "Bert", "Roger"}

// benchCandidates are 50 people sharing the checked record's surname block: similar names,
// mostly different details, one true duplicate.
func benchCandidates(n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = Record{Entity: "contact", ID: fmt.Sprint(i), Attrs: map[string]string{
			"emailaddress1":       fmt.Sprintf("r.smith%d@contoso-mail.co.uk", i),
			"telephone1":          fmt.Sprintf("020 7946 %04d", 1000+i*37),
			"governmentid":        fmt.Sprintf("QQ%06dC", 123400+i*7),
			"firstname":           firstNames[i%len(firstNames)],
			"lastname":            []string{"Smith", "Smyth", "Smithe", "Schmidt", "Smitt"}[i%5],
			"birthdate":           fmt.Sprintf("19%02d-%02d-%02d", 50+i%40, 1+i%12, 1+i%28),
			"address1_line1":      fmt.Sprintf("%d High Street", 1+i),
			"address1_postalcode": fmt.Sprintf("SW1A %dAA", i%10),
			"address1_city":       "London",
		}}
	}
	out[n/2].Attrs = map[string]string{
		"emailaddress1": "Bob.Smyth@Contoso.com", "telephone1": "+44 20 7946 0958", "firstname": "Robert",
		"lastname": "Smith", "birthdate": "1970-03-04T00:00:00Z", "address1_line1": "12 High St.",
		"address1_postalcode": "SW1A 1AA", "address1_city": "London",
	}
	return out
}

var benchChecked = Record{Entity: "contact", Attrs: map[string]string{
	"emailaddress1": "bob.smyth@contoso.com", "telephone1": "020 7946 0958", "firstname": "Bob",
	"lastname": "Smyth", "birthdate": "1970-03-04", "address1_line1": "12 High Street",
	"address1_postalcode": "sw1a1aa", "address1_city": "london",
}}

// BenchmarkScore50 scores one checked record against 50 candidates whose prepared form is
// cached (how a warm index serves them): the per-check matching cost once candidates are
// normalised.
func BenchmarkScore50(b *testing.B) {
	r := benchRule(b, 0)
	cands := benchCandidates(50)
	prepared := make([]*Prepared, len(cands))
	for i, c := range cands {
		prepared[i] = r.PrepareCandidate(c)
	}
	a := r.Prepare(benchChecked)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range prepared {
			_ = r.Score(a, p)
		}
	}
}

// BenchmarkCheck50 is a whole check without the candidate cache: normalise the checked record
// once, normalise the 50 candidates as they come from the index, score them all.
func BenchmarkCheck50(b *testing.B) {
	r := benchRule(b, -1)
	cands := benchCandidates(50)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := r.Prepare(benchChecked)
		for _, c := range cands {
			_ = r.Score(a, r.PrepareCandidate(c))
		}
	}
}

// BenchmarkPrepare normalises one record (the once-per-check cost).
func BenchmarkPrepare(b *testing.B) {
	r := benchRule(b, 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = r.Prepare(benchChecked)
	}
}

// BenchmarkCheck50Cached is BenchmarkCheck50 with the rule's candidate cache warm (the
// candidates were seen by an earlier check): what the engine pays per check in steady state.
func BenchmarkCheck50Cached(b *testing.B) {
	r := benchRule(b, 0)
	cands := benchCandidates(50)
	for _, c := range cands {
		r.PrepareCandidate(c)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := r.Prepare(benchChecked)
		for _, c := range cands {
			_ = r.Score(a, r.PrepareCandidate(c))
		}
	}
}

// benchDistinct is candidate i with its own phone number, as a 1M-row index serves them (the
// phone parse cache cannot hold them all), in national form or, canonical, as the index files it.
func benchDistinct(r *Rule, i int, canonical bool) Record {
	rec := benchCandidates(1)[0]
	rec.ID = fmt.Sprint(i)
	rec.Attrs["telephone1"] = fmt.Sprintf("020 %04d %04d", (i/10000)%10000, i%10000)
	if canonical {
		rec = r.Canonical(rec)
	}
	return rec
}

// BenchmarkPrepareCandidateDistinct prepares one never-seen candidate (cache off) whose phone
// is in national form: libphonenumber parses it.
func BenchmarkPrepareCandidateDistinct(b *testing.B) {
	benchPrepareDistinct(b, false)
}

// BenchmarkPrepareCandidateCanonical is the same candidate as the index files it
// (Rule.Canonical: phone in E.164), read without libphonenumber.
func BenchmarkPrepareCandidateCanonical(b *testing.B) {
	benchPrepareDistinct(b, true)
}

func benchPrepareDistinct(b *testing.B, canonical bool) {
	r := benchRule(b, -1)
	recs := make([]Record, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(recs) == 0 {
			b.StopTimer()
			for j := range recs {
				recs[j] = benchDistinct(r, 1_000_000+i+j, canonical)
			}
			b.StartTimer()
		}
		_ = r.PrepareCandidate(recs[i%len(recs)])
	}
}
