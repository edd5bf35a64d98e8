package audit

import (
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

func TestMask(t *testing.T) {
	rec := matcher.Record{Entity: "contact", Attrs: map[string]string{
		"firstname": "Bob", "lastname": "Smyth", "emailaddress1": "Bob.Smyth@Example.com",
		"telephone1": "+44 20 7946 0958", "address1_line1": "1 High St", "birthdate": "1970-01-01",
	}}
	ms := []rules.Match{{Name: "Robert Smith", Fields: []matcher.FieldResult{{Attr: "emailaddress1"}}}}
	tests := []struct{ in, want string }{
		{"first name Bob ~ Robert (nickname)", "first name ~ (nickname)"},
		{"email equal after normalisation", "email equal after normalisation"},
		{"email bob.smyth@example.com = robert.smith@example.com", "email ="},
		{"last name Smyth ~ Smith (sounds alike, 0.93)", "last name ~ (sounds alike, 0.93)"},
		{"phone +44 20 7946 0958 equal to 020 7946 0958 after normalisation", "phone equal to after normalisation"},
		{"birthdate 1970-01-01 equal", "birthdate equal"},
		{"address1_line1 '1 High St' ~ '1 High Street' (0.91)", "address1_line1 ~ (0.91)"},
		{"a concurrent save of a record with the same emailaddress1 is in progress", "a concurrent save of a record with the same emailaddress1 is in progress"},
		// Unforeseen wording loses words rather than leaking them.
		{"Zebediah matched Quux-Corp via fuzzy-magic", "matched"},
		// A value that happens to be a vocabulary word is still removed when it is the
		// record's own value.
		{"company Case ~ Case", "company ~"},
		{"jaro-winkler 92% on first/last name", "jaro-winkler 92% on first/last name"},
		{"", ""},
	}
	rec.Attrs["companyname"] = "Case"
	for _, tc := range tests {
		got := Mask(tc.in, rec, ms)
		if got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, v := range []string{"bob", "robert", "smyth", "smith", "7946", "example", "high", "1970", "zebediah", "quux"} {
			if strings.Contains(strings.ToLower(got), v) {
				t.Errorf("Mask(%q) = %q leaks %q", tc.in, got, v)
			}
		}
	}
}

func FuzzMask(f *testing.F) {
	for _, s := range []string{"first name Bob ~ Robert (nickname)", "email a@b.c = d@e.f", "((( ~ )))", "'\"", "x, , ;"} {
		f.Add(s)
	}
	rec := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Bob"}}
	f.Fuzz(func(t *testing.T, s string) {
		got := Mask(s, rec, nil)
		if len(got) > len(s) {
			t.Fatalf("mask grew %q to %q", s, got)
		}
		if strings.Contains(strings.ToLower(got), "bob") && !strings.Contains(strings.ToLower(s), "bob") {
			t.Fatalf("mask invented text: %q → %q", s, got)
		}
		for _, w := range strings.Fields(got) {
			if strings.EqualFold(strings.Trim(w, `()[]"',;:`), "bob") {
				t.Fatalf("record value survived: %q → %q", s, got)
			}
		}
		if Mask(got, rec, nil) != got {
			t.Fatalf("mask not idempotent: %q → %q → %q", s, got, Mask(got, rec, nil))
		}
	})
}
