package index_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// TestPrepareMatchesCanonicalThenTrim checks Prepare against the plain way of filing a row:
// its phones in E.164 (CanonicalRecord over the whole row), its keys and form from that, then
// the attributes the index keeps. Rows with a country (which chooses a phone's region),
// national and international numbers, unparsable ones and other columns.
func TestPrepareMatchesCanonicalThenTrim(t *testing.T) {
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := []matcher.Record{
		{Entity: "contact", ID: "1", Attrs: map[string]string{"firstname": "Jean", "lastname": "Dupont",
			"telephone1": "01 42 68 53 00", "mobilephone": "06 12 34 56 78", "address1_country": "France", "jobtitle": "CFO"}},
		{Entity: "contact", ID: "2", Attrs: map[string]string{"firstname": "Ann", "lastname": "Lee",
			"telephone1": "(202) 555-0143", "address1_country": "United States", "emailaddress1": "ann@example.com"}},
		{Entity: "contact", ID: "3", Attrs: map[string]string{"firstname": "Bob", "lastname": "Brown",
			"telephone1": "020 7946 0958", "mobilephone": "+44 7700 900123", "birthdate": "1970-03-04"}},
		{Entity: "contact", ID: "4", Attrs: map[string]string{"lastname": "X", "telephone1": "12", "address1_country": "Narnia"}},
		{Entity: "lead", ID: "5", Attrs: map[string]string{"firstname": "Eve", "companyname": "Contoso Ltd",
			"telephone1": "0161 496 0000", "address1_country": "UK", "description": "met at a fair"}},
		{Entity: "account", ID: "6", Attrs: map[string]string{"name": "Fabrikam, Inc.", "telephone1": "+1 425 555 0100"}},
	}
	for _, row := range rows {
		var ms []*matcher.Rule
		for _, r := range set.Rules() {
			if r.CandidateEntity == row.Entity {
				ms = append(ms, r.Matcher)
			}
		}
		canon := matcher.CanonicalRecord(row, ms...)
		wantKeys, wantForm := set.IndexEntry(canon)
		want := index.Trim(canon, set.IndexedAttrs(row.Entity))

		got := index.Prepare(set, row)
		if !maps.Equal(got.Record.Attrs, want.Attrs) {
			t.Errorf("%s %s: attributes %v, want %v", row.Entity, row.ID, got.Record.Attrs, want.Attrs)
		}
		if got.Record.Form != wantForm {
			t.Errorf("%s %s: the form differs", row.Entity, row.ID)
		}
		if len(got.Keys) != len(wantKeys) {
			t.Fatalf("%s %s: keys %q, want %q", row.Entity, row.ID, got.Keys, wantKeys)
		}
		for i := range got.Keys {
			if got.Keys[i] != wantKeys[i] {
				t.Fatalf("%s %s: keys %q, want %q", row.Entity, row.ID, got.Keys, wantKeys)
			}
			// Distinct, with rules sharing keys (the scan's in-file index relies on it).
			if slices.Contains(got.Keys[:i], got.Keys[i]) {
				t.Fatalf("%s %s: key %q twice in %q", row.Entity, row.ID, got.Keys[i], got.Keys)
			}
		}
		if row.Attrs["telephone1"] == "01 42 68 53 00" && got.Record.Attrs["telephone1"] != "+33142685300" {
			t.Errorf("the French number was not read with the row's country: %q", got.Record.Attrs["telephone1"])
		}
	}
}
