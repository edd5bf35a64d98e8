package index

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// TestMemoryBlockChurn grows keys from one record to many and back, by updates and deletes,
// and checks every key's records after each step, and that the blocks of two or more records
// are reused rather than piled up as keys grow and shrink.
func TestMemoryBlockChurn(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	want := map[string][]string{} // key → ids filed under it
	file := func(id string, keys ...string) {
		t.Helper()
		for k, ids := range want {
			want[k] = slices.DeleteFunc(ids, func(x string) bool { return x == id })
		}
		for _, k := range keys {
			want[k] = append(want[k], id)
		}
		rec := matcher.Record{Entity: "contact", ID: id, Attrs: map[string]string{"lastname": id}}
		if err := m.Upsert(ctx, rec, keys); err != nil {
			t.Fatal(err)
		}
	}
	drop := func(id string) {
		t.Helper()
		for k, ids := range want {
			want[k] = slices.DeleteFunc(ids, func(x string) bool { return x == id })
		}
		if err := m.Delete(ctx, "contact", id); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		for k, ids := range want {
			res, err := m.Lookup(ctx, rules.Lookup{Keys: []string{k}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Records {
				got = append(got, r.ID)
			}
			slices.Sort(got)
			w := slices.Sorted(slices.Values(ids))
			if !slices.Equal(got, w) {
				t.Fatalf("%s: key %s: got %v, want %v", step, k, got, w)
			}
		}
	}
	for round := range 3 {
		for i := range 20 {
			file(fmt.Sprintf("r%d", i), "solo"+fmt.Sprint(i), fmt.Sprintf("mod3-%d", i%3), "all")
		}
		check(fmt.Sprintf("round %d filed", round))
		for i := range 20 {
			if i%2 == 0 {
				file(fmt.Sprintf("r%d", i), "solo"+fmt.Sprint(i)) // leaves the shared keys
			}
		}
		check(fmt.Sprintf("round %d moved", round))
		for i := range 20 {
			if i%2 == 1 || i%4 == 0 {
				drop(fmt.Sprintf("r%d", i))
			}
		}
		check(fmt.Sprintf("round %d deleted", round))
		for i := range 20 {
			drop(fmt.Sprintf("r%d", i))
		}
		check(fmt.Sprintf("round %d emptied", round))
		if m.keys.Len() != 0 {
			t.Fatalf("round %d: %d keys left after every record was deleted", round, m.keys.Len())
		}
	}
	// Four shared keys at most held a block at once; the rest were reused.
	if len(m.blocks) > 4 || len(m.freeB) != len(m.blocks) {
		t.Fatalf("blocks: %d made, %d free: they should be reused", len(m.blocks), len(m.freeB))
	}
}
