package rules_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// TestKeyLimits: the shipped contact rule limits its broad keys (the birth date alone reads
// at most 10 records) while its selective keys read per_key_limit; a limit must be a whole
// number ≥ 1.
func TestKeyLimits(t *testing.T) {
	set, err := rules.Parse(configs.DefaultRules, "rules.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	var contact *rules.Rule
	for _, r := range set.ForEntity("contact") {
		if r.CandidateEntity == "contact" {
			contact = r
		}
	}
	if contact == nil {
		t.Fatal("no contact rule")
	}
	// 30 people born the same day, one of them with the probe's email.
	idx := index.NewMemory()
	ctx := context.Background()
	for i := range 30 {
		rec := matcher.Record{Entity: "contact", ID: guidN(i), Attrs: map[string]string{
			"firstname": "Person" + strings.Repeat("x", i%7), "lastname": "Family" + string(rune('a'+i)),
			"birthdate": "1980-05-01T00:00:00Z", "emailaddress1": "p" + guidN(i)[:8] + "@mail.example"}}
		if err := index.File(ctx, idx, set, rec); err != nil {
			t.Fatal(err)
		}
	}
	probe := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Zed", "lastname": "Nobody", "birthdate": "1980-05-01T00:00:00Z"}}
	keys := contact.Matcher.BlockingKeys(contact.Matcher.Prepare(probe))
	limited := 0
	for _, k := range keys {
		if contact.Matcher.KeyLimit(k) > 0 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatalf("no limited key among %v", keys)
	}
	var seen int
	eng := rules.NewEngine(set, countingIndex{Index: idx, n: &seen}, rules.EngineConfig{PerKeyLimit: 200})
	if _, err := eng.Evaluate(ctx, rules.Request{Record: probe, Message: "Create", EntryPoint: rules.EntryForm}); err != nil {
		t.Fatal(err)
	}
	if seen == 0 || seen >= 30 {
		t.Fatalf("the birth-date key read %d of 30 records; want its limit to cut the block", seen)
	}

	bad := strings.Replace(string(configs.DefaultRules), "limit: 10}", "limit: 0}", 1)
	if _, err := rules.Parse([]byte(bad), "bad.yaml", nil); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("limit 0 accepted: %v", err)
	}
}

type countingIndex struct {
	rules.Index
	n *int
}

func (c countingIndex) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	res, err := c.Index.Lookup(ctx, q)
	*c.n += len(res.Records)
	return res, err
}

func guidN(i int) string {
	const hex = "0123456789abcdef"
	b := []byte("00000000-0000-4000-8000-000000000000")
	for j, v := 35, i+1; v > 0 && j > 0; j-- {
		if b[j] == '-' {
			continue
		}
		b[j] = hex[v%16]
		v /= 16
	}
	return string(b)
}
