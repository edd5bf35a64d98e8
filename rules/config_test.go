package rules

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
)

func TestShippedRulesParse(t *testing.T) {
	f, err := ParseFile(configs.DefaultRules, "configs/rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	set := f.Set
	if got := set.Tables(); strings.Join(got, ",") != "account,contact,lead" {
		t.Errorf("tables %v", got)
	}
	if got := set.CandidateTables(); strings.Join(got, ",") != "account,contact,lead" {
		t.Errorf("candidate tables %v", got)
	}
	var cross *Rule
	for _, r := range set.Rules() {
		if r.Entity != r.CandidateEntity {
			cross = r
		}
		if !(0 < r.WarnThreshold && r.WarnThreshold <= r.BlockThreshold && r.BlockThreshold <= r.MergeThreshold && r.MergeThreshold <= 1) {
			t.Errorf("%s: thresholds warn %v block %v merge %v", r.Name, r.WarnThreshold, r.BlockThreshold, r.MergeThreshold)
		}
		if r.ActionFor(EntryImport) != ActionReview || r.ActionFor(EntryIntegration) != ActionWarn {
			t.Errorf("%s: per-entry actions %v", r.Name, r.ActionsByEntry)
		}
	}
	if cross == nil || cross.Entity != "lead" || cross.CandidateEntity != "contact" || cross.Action != ActionWarn {
		t.Fatalf("no lead→contact rule with action warn: %+v", cross)
	}
	// Contacts are filed once for both rules that search them: the cross rule's keys are the
	// contact rule's.
	lead := matcher.Record{Entity: "lead", Attrs: map[string]string{"firstname": "Bob", "lastname": "Smyth", "emailaddress1": "bob.smyth@contoso.com"}}
	contact := matcher.Record{Entity: "contact", ID: "c1", Attrs: map[string]string{"firstname": "Robert", "lastname": "Smith", "emailaddress1": "Bob.Smyth@contoso.com"}}
	idx := map[string]bool{}
	for _, k := range set.IndexKeys(contact) {
		idx[k] = true
	}
	found := false
	for _, k := range cross.Matcher.BlockingKeys(cross.Matcher.Prepare(lead)) {
		found = found || idx[k]
	}
	if !found {
		t.Error("lead shares no key with the contact")
	}
	if f.NotDuplicates.Len() != 0 {
		t.Errorf("shipped file marks %d pairs", f.NotDuplicates.Len())
	}
}

func TestParseSettings(t *testing.T) {
	doc := `
version: 1
placeholders:
  values: [none given]
  phones: ["+44 20 7946 0000"]
bypass_users: ["{6D81597F-0000-0000-0000-000000000001}"]
not_duplicates:
  - [contact/AAAAAAAA-0000-0000-0000-000000000001, contact/aaaaaaaa-0000-0000-0000-000000000002]
defaults:
  scoring: evidence
  prior: -10
  thresholds: {block: 0.97, warn: 0.7}
  action: warn
  actions: {import: audit}
rules:
  - name: people
    table: contact
    thresholds: {block: 0.98}
    actions: {api: block}
    bypass_users: [6d81597f-0000-0000-0000-000000000002]
    fields:
      - {attr: emailaddress1, comparator: email, weight: 16, penalty: 2, strong: true}
      - {attr: telephone1, comparator: phone, weight: 12}
      - {attr: lastname, comparator: lastname, required: true}
    blocking:
      - [emailaddress1]
      - {name: ph, parts: [telephone1:digits]}
  - name: off
    table: contact
    enabled: false
    fields: [{attr: lastname, comparator: lastname}]
`
	f, err := ParseFile([]byte(doc), "t.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := f.Set.Rules()
	if len(rs) != 1 {
		t.Fatalf("%d rules, want 1 (the disabled one left out)", len(rs))
	}
	r := rs[0]
	if r.BlockThreshold != 0.98 || r.WarnThreshold != 0.7 || r.MergeThreshold != 0.98 {
		t.Errorf("thresholds %v/%v/%v", r.BlockThreshold, r.WarnThreshold, r.MergeThreshold)
	}
	if r.Action != ActionWarn || r.ActionFor(EntryImport) != ActionAudit || r.ActionFor(EntryAPI) != ActionBlock || r.ActionFor(EntryForm) != ActionWarn {
		t.Errorf("actions %v %v", r.Action, r.ActionsByEntry)
	}
	if !r.BypassUsers["6d81597f-0000-0000-0000-000000000001"] || !r.BypassUsers["6d81597f-0000-0000-0000-000000000002"] {
		t.Errorf("bypass users %v", r.BypassUsers)
	}
	spec := r.Matcher.Spec()
	if spec.Prior != -10 || spec.Scoring != matcher.ScoringEvidence || spec.ExplainMin != 0.7 {
		t.Errorf("spec prior %v scoring %v explain %v", spec.Prior, spec.Scoring, spec.ExplainMin)
	}
	if !spec.Fields[2].Required || spec.Fields[2].MinSimilarity != 0.8 {
		t.Errorf("required field %+v", spec.Fields[2])
	}
	if !f.NotDuplicates.NotDuplicate("contact", "AAAAAAAA-0000-0000-0000-000000000002", "contact", "{aaaaaaaa-0000-0000-0000-000000000001}") {
		t.Error("not_duplicates pair not found (either order, any case)")
	}
	// The switchboard number and the extra placeholder value never match.
	m := r.Matcher
	a := m.Prepare(matcher.Record{Attrs: map[string]string{"telephone1": "020 7946 0000", "lastname": "none given"}})
	if keys := m.BlockingKeys(a); len(keys) != 0 {
		t.Errorf("placeholder values made keys %v", keys)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	doc := `version: 1
rules:
  - name: people
    table: contact
    acton: block
    thresholds: {block: 1.5, warn: 0.9}
    actions: {web: block, api: shout}
    fields:
      - attr: firstname
        comparator: jaro
      - attr: lastname
        comparator: lastname
        weight: heavy
    blocking:
      - [lastname:soundex]
      - [birthdate]
  - name: people
    table: Contact
    fields: [{attr: emailaddress1, comparator: email}]
bypass_users: [bob]
`
	_, err := Parse([]byte(doc), "configs/rules.yaml", nil)
	var pl *ProblemList
	if !errors.As(err, &pl) {
		t.Fatalf("err = %v, want *ProblemList", err)
	}
	want := []string{
		`configs/rules.yaml:5:5: rules[0].acton: unknown key "acton" (did you mean "action"?)`,
		`configs/rules.yaml:6:25: rules[0].thresholds.block: must be in (0,1], got 1.5`,
		`configs/rules.yaml:7:15: rules[0].actions.web: unknown entry point "web" (one of form, integration, import, api)`,
		`configs/rules.yaml:7:32: rules[0].actions.api: unknown action "shout"`,
		`configs/rules.yaml:10:21: rules[0].fields[0].comparator: unknown comparator "jaro"`,
		`configs/rules.yaml:13:17: rules[0].fields[1].weight: want a number, got the text "heavy"`,
		`configs/rules.yaml:15:10: rules[0].blocking[0][0]: unknown transform "soundex"`,
		`configs/rules.yaml:16:10: rules[0].blocking[1][0]: attribute "birthdate" is not one of the rule's fields`,
		`configs/rules.yaml:18:12: rules[1].table: "Contact" is not a Dataverse table logical name`,
		`configs/rules.yaml:20:16: bypass_users[0]: "bob" is not a user id`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem\n  %s\nin\n%s", w, msg)
		}
	}
	if got := strings.Count(msg, "\n") + 1; got != len(pl.Problems) {
		t.Errorf("Error() has %d lines for %d problems", got, len(pl.Problems))
	}
}

func TestParseMalformed(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty", "", "r.yaml: the rules file is empty"},
		{"syntax", "rules:\n  - name: a\n   table: b\n", "r.yaml:1:1: invalid YAML: did not find expected '-' indicator"},
		{"tabs", "rules:\n\t- name: a\n", "r.yaml:2:1: invalid YAML"},
		{"not a mapping", "- a\n- b\n", "r.yaml:1:1: want a mapping"},
		{"no rules", "version: 1\n", "r.yaml:1:1: rules: the file defines no rules"},
		{"wrong version", "version: 2\nrules: []\n", "r.yaml:1:10: version: unsupported version 2"},
		{"rule not a mapping", "rules: [hello]\n", "r.yaml:1:9: rules[0]: want a rule"},
		{"no fields", "rules:\n  - {name: a, table: contact}\n", "rules[0].fields: the rule compares no fields"},
		{"warn above block", "rules:\n  - name: a\n    table: contact\n    thresholds: {block: 0.8, warn: 0.9}\n    fields: [{attr: x, comparator: exact}]\n", "r.yaml:4:17: rules[0].thresholds: warn (0.9) must not be above block (0.8)"},
		{"duplicate key", "rules:\n  - name: a\n    name: b\n    table: contact\n    fields: [{attr: x, comparator: exact}]\n", "r.yaml:3:5: rules[0].name: key \"name\" appears twice"},
		{"duplicate name", "rules:\n  - {name: a, table: contact, fields: [{attr: x, comparator: exact}]}\n  - {name: a, table: contact, fields: [{attr: x, comparator: exact}]}\n", `rules[1].name: rule name "a" is already used by rules[0]`},
		{"bad pair", "not_duplicates: [[contact/1]]\nrules: []\n", "not_duplicates[0]: want a pair"},
		{"bad region", "rules:\n  - {name: a, table: contact, default_region: Mars, fields: [{attr: x, comparator: phone}]}\n", `rules[0].default_region: "Mars" is not an ISO 3166 region`},
		{"list expected", "placeholders: {values: test}\nrules: []\n", "r.yaml:1:24: placeholders.values: want a list"},
		{"merge keys", "x: &a {b: 1}\nrules:\n  - <<: *a\n", "YAML merge keys"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc), "r.yaml", nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v\nwant it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(p, configs.DefaultRules, 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := LoadFile(p, matcher.BuiltinLexicon())
	if err != nil || len(set.Rules()) == 0 {
		t.Fatalf("LoadFile: %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml"), nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  - name: a\n    table: contact\n    fields: [{attr: x, comparator: nope}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad, nil); err == nil || !strings.HasPrefix(err.Error(), bad+":4:") {
		t.Errorf("bad file: err = %v, want it to start with %s:4:", err, bad)
	}
}

// TestEngineWithShippedRules runs a decision through the engine with the shipped rules: the
// webhook's Bob Smyth example is blocked with its explanation.
func TestEngineWithShippedRules(t *testing.T) {
	set, err := Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	existing := matcher.Record{Entity: "contact", ID: "c1", Attrs: map[string]string{
		"firstname": "Robert", "lastname": "Smith", "telephone1": "020 7946 0958", "address1_country": "United Kingdom",
		"emailaddress1": "robert.smith@contoso.co.uk",
	}}
	idx := &configTestIndex{recs: map[string][]matcher.Record{}}
	for _, k := range set.IndexKeys(existing) {
		idx.recs[k] = append(idx.recs[k], existing)
	}
	eng := NewEngine(set, idx, EngineConfig{})
	d, err := eng.Evaluate(t.Context(), Request{Message: "Create", EntryPoint: EntryForm, Record: matcher.Record{Entity: "contact", Attrs: map[string]string{
		"firstname": "Bob", "lastname": "Smyth", "telephone1": "+44 20 7946 0958", "emailaddress1": "Robert.Smith@contoso.co.uk",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != OutcomeBlock || len(d.Matches) != 1 || d.Matches[0].ID != "c1" {
		t.Fatalf("decision %+v", d)
	}
	got := strings.Join(d.Matches[0].Reasons, "; ")
	for _, w := range []string{"email equal after normalisation", "phone equal after normalisation", "first name Bob ~ Robert (nickname)"} {
		if !strings.Contains(got, w) {
			t.Errorf("reasons %q lack %q", got, w)
		}
	}
}

// configTestIndex is a minimal in-test Index over a key → records map.
type configTestIndex struct{ recs map[string][]matcher.Record }

func (m *configTestIndex) Lookup(_ context.Context, q Lookup) (LookupResult, error) {
	seen := map[string]bool{}
	var out LookupResult
	for _, k := range q.Keys {
		for _, r := range m.recs[k] {
			if !seen[r.ID] {
				seen[r.ID] = true
				out.Records = append(out.Records, r)
			}
		}
	}
	return out, nil
}

func (m *configTestIndex) Release(context.Context, []string, string) error { return nil }
