package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/rules"
)

func ruleNames(s *rules.Set) []string {
	var out []string
	for _, r := range s.Rules() {
		out = append(out, r.Name)
	}
	return out
}

// TestLeadsAgainstContacts: a file of leads checked against an export of contacts, with the
// shipped rules: a lead that is a known contact matches it under lead-is-contact, a lead
// repeated in the file matches its earlier row under lead-duplicate, and the indexes hold
// records for the rules this scan uses only (RulesFor).
func TestLeadsAgainstContacts(t *testing.T) {
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		entity, cand string
		want         []string
	}{
		{"lead", "contact", []string{"lead-is-contact"}},
		{"lead", "lead", []string{"lead-duplicate"}},
		{"contact", "contact", []string{"contact-duplicate"}},
		{"contact", "lead", nil},
	} {
		if got := ruleNames(RulesFor(set, tc.entity, tc.cand)); !slices.Equal(got, tc.want) {
			t.Errorf("RulesFor(%s, %s) = %v, want %v", tc.entity, tc.cand, got, tc.want)
		}
	}

	ctx := context.Background()
	m, err := ParseMapping("first=firstname,last=lastname,email=emailaddress1,phone=telephone1")
	if err != nil {
		t.Fatal(err)
	}
	contacts := "id,first,last,email,phone\n" +
		"c-1,Margaret,Oyelaran,margaret.oyelaran@example.com,+44 20 7946 0101\n" +
		"c-2,Tobias,Fenwick,tobias.fenwick@example.com,+44 20 7946 0102\n"
	crm := index.NewMemory()
	if _, err := LoadAgainst(ctx, RulesFor(set, "lead", "contact"), "contact", strings.NewReader(contacts),
		Input{Name: "contacts.csv", Mapping: m, IDColumn: "id"}, crm, nil); err != nil {
		t.Fatal(err)
	}
	leads := "ref,first,last,email,phone\n" +
		"l-1,Maggie,Oyelaran,Margaret.Oyelaran@example.com,020 7946 0101\n" +
		"l-2,Priya,Ramaswamy,priya.ramaswamy@example.org,+44 161 496 0777\n" +
		"l-3,Priya,Ramaswamy,PRIYA.RAMASWAMY@example.org,0161 496 0777\n"
	var results bytes.Buffer
	rw, err := NewResultWriter(OutputJSONL, &results)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Entity: "lead", Rules: set, CRM: crm, Input: Input{Name: "leads.csv", Mapping: m, IDColumn: "ref"}}
	if _, err := Scan(ctx, cfg, strings.NewReader(leads), Outputs{Results: rw}); err != nil {
		t.Fatal(err)
	}
	var got []string
	sc := bufio.NewScanner(&results)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		line := r.ID + ":"
		for _, mt := range r.Matches {
			line += " " + mt.Source + "/" + mt.ID + "/" + mt.Rule
		}
		got = append(got, line)
	}
	want := []string{"l-1: crm/c-1/lead-is-contact", "l-2:", "l-3: file/l-2/lead-duplicate"}
	if !slices.Equal(got, want) {
		t.Fatalf("matches\n%q\nwant\n%q", got, want)
	}
}
