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

// TestMaxBlock: the shipped contact rule's broad keys (the birth date alone) count only while
// their block is small: a lookup reads the records of a birth date shared by a few people and
// skips it once more than its max_block (10) share it, while the selective keys are always
// read; max_block must be a whole number ≥ 1, and the old name limit says what it became.
func TestMaxBlock(t *testing.T) {
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
	probe := matcher.Record{Entity: "contact", Attrs: map[string]string{"firstname": "Zed", "lastname": "Nobody",
		"birthdate": "1980-05-01T00:00:00Z", "emailaddress1": "zed.nobody@mail.example"}}
	keys := contact.Matcher.BlockingKeys(contact.Matcher.Prepare(probe))
	broad := 0
	for _, k := range keys {
		if contact.Matcher.KeyMaxBlock(k) > 0 {
			broad++
		}
	}
	if broad == 0 {
		t.Fatalf("no key with a max_block among %v", keys)
	}
	for _, tc := range []struct {
		sameDay int // people filed with the probe's birth date (and nothing else in common)
		want    int // records the lookup returns: the block, or none once it is over 10
	}{
		{1, 1}, {10, 10}, {11, 0}, {30, 0},
	} {
		idx := index.NewMemory()
		ctx := context.Background()
		for i := range tc.sameDay {
			rec := matcher.Record{Entity: "contact", ID: guidN(i), Attrs: map[string]string{
				"firstname": "Person" + strings.Repeat("x", i%7), "lastname": "Family" + string(rune('a'+i)),
				"birthdate": "1980-05-01T00:00:00Z", "emailaddress1": "p" + guidN(i)[:8] + "@mail.example"}}
			if err := index.File(ctx, idx, set, rec); err != nil {
				t.Fatal(err)
			}
		}
		// The probe's email is filed too, under another birth date: a selective key is read
		// whatever the broad keys do.
		same := matcher.Record{Entity: "contact", ID: guidN(500), Attrs: map[string]string{"firstname": "Zed",
			"lastname": "Nobody", "birthdate": "1990-01-01T00:00:00Z", "emailaddress1": "zed.nobody@mail.example"}}
		if err := index.File(ctx, idx, set, same); err != nil {
			t.Fatal(err)
		}
		var seen int
		eng := rules.NewEngine(set, countingIndex{Index: idx, n: &seen}, rules.EngineConfig{PerKeyLimit: 200})
		d, err := eng.Evaluate(ctx, rules.Request{Record: probe, Message: "Create", EntryPoint: rules.EntryForm})
		if err != nil {
			t.Fatal(err)
		}
		if seen != tc.want+1 {
			t.Errorf("%d people born the same day: the lookup returned %d records, want %d and the email match", tc.sameDay, seen, tc.want)
		}
		if len(d.Matches) == 0 || d.Matches[0].ID != guidN(500) {
			t.Errorf("%d people born the same day: the email match was not reported: %+v", tc.sameDay, d.Matches)
		}
	}

	bad := strings.Replace(string(configs.DefaultRules), "max_block: 10}", "max_block: 0}", 1)
	if _, err := rules.Parse([]byte(bad), "bad.yaml", nil); err == nil || !strings.Contains(err.Error(), "max_block") {
		t.Fatalf("max_block 0 accepted: %v", err)
	}
	old := strings.Replace(string(configs.DefaultRules), "max_block: 10}", "limit: 10}", 1)
	if _, err := rules.Parse([]byte(old), "old.yaml", nil); err == nil || !strings.Contains(err.Error(), "limit is now max_block") {
		t.Fatalf("limit accepted: %v", err)
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
