package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// BenchmarkMemoryLookup looks up 15 keys at a time in an index of 500,000 records filed under
// 14 keys each, shaped like contacts under the shipped rules: ten keys of their own (an
// e-mail, phones), four shared by a few records to a few hundred (names, dates). ns/op is one
// lookup; the keys' table is far larger than the CPU's caches, as in a scan against a CRM.
//
//	go test ./index -run '^$' -bench MemoryLookup -benchtime 200000x
func BenchmarkMemoryLookup(b *testing.B) {
	const n = 500_000
	m := NewMemory()
	r := rand.New(rand.NewPCG(7, 8))
	keysOf := func(i int) []string {
		ks := make([]string, 0, 14)
		for j := range 10 {
			ks = append(ks, fmt.Sprintf("contact|own%d|%d", j, i))
		}
		ks = append(ks, fmt.Sprintf("contact|nm|%d", i%100_000), fmt.Sprintf("contact|dob|%d", i%20_000),
			fmt.Sprintf("contact|ln|%d", i%2_000), fmt.Sprintf("contact|fn|%d", i%500))
		return ks
	}
	ctx := context.Background()
	entries := make([]Entry, 0, 1000)
	for i := range n {
		entries = append(entries, Entry{Record: matcher.Record{Entity: "contact", ID: fmt.Sprint(i),
			Attrs: map[string]string{"lastname": "x"}, Form: "form"}, Keys: keysOf(i)})
		if len(entries) == cap(entries) {
			if err := m.UpsertBatch(ctx, entries); err != nil {
				b.Fatal(err)
			}
			entries = entries[:0]
		}
	}
	queries := make([]rules.Lookup, 4096)
	for i := range queries {
		ks := keysOf(r.IntN(2 * n)) // half of them name no record
		ks = append(ks, fmt.Sprintf("contact|x|%d", i))
		queries[i] = rules.Lookup{Keys: ks, PerKeyLimit: 200, MaxBlocks: []int{10: 12, 11: 10, 12: 10, 13: 10}}
	}
	b.ResetTimer()
	found := 0
	for i := range b.N {
		res, err := m.Lookup(ctx, queries[i%len(queries)])
		if err != nil {
			b.Fatal(err)
		}
		found += len(res.Records)
	}
	b.ReportMetric(float64(found)/float64(b.N), "records/op")
}
