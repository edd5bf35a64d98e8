// Package indextest is the conformance suite every candidate index passes: the in-process
// index.Memory and the Redis index, standalone and in Cluster mode. Run it from a test of the
// implementation's package with a factory that returns a fresh, empty index per call.
package indextest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Index is everything an index implementation offers.
type Index interface {
	rules.Index
	index.Writer
	index.BatchWriter
	index.Settler
	index.Watermarks
	index.Enumerator
}

// Factory returns a fresh, empty index for one subtest.
type Factory func(t *testing.T) Index

// Options relax the suite for an index under test conditions it would not meet in use.
type Options struct {
	// KeyCollisions: different keys' members are forced to share ranges (a test of hash
	// collisions), so a block may look larger than it is and a key with a maximum (MaxBlocks) be skipped
	// at or under its maximum. Over the maximum it must still be skipped.
	KeyCollisions bool
	// SettleGrace: Settle keeps reservations this long instead of dropping them (a replica
	// keeps them while other instances' copies catch up).
	SettleGrace time.Duration
}

// Run runs the suite.
func Run(t *testing.T, newIndex Factory) { RunWith(t, newIndex, Options{}) }

// RunWith runs the suite with options.
func RunWith(t *testing.T, newIndex Factory, opts Options) {
	tests := []struct {
		name string
		fn   func(t *testing.T, x Index, opts Options)
	}{
		{"LookupByKeys", testLookupByKeys},
		{"EmptyAndUnknown", testEmptyAndUnknown},
		{"PerKeyLimit", testPerKeyLimit},
		{"BigBlocks", testBigBlocks},
		{"BlocksCountedElsewhere", testElsewhere},
		{"UpsertReplacesKeys", testUpsertReplacesKeys},
		{"UpsertReplacesAttrs", testUpsertReplacesAttrs},
		{"Delete", testDelete},
		{"TablesKeptApart", testTablesKeptApart},
		{"AttrsRoundTrip", testAttrsRoundTrip},
		{"RejectsIncompleteRecord", testRejectsIncomplete},
		{"BatchUpsert", testBatchUpsert},
		{"ReservationConflict", testReservationConflict},
		{"ReservationRetrySameHolder", testReservationRetry},
		{"ReservationExpires", testReservationExpires},
		{"ReleaseOnlyByHolder", testReleaseOnlyByHolder},
		{"Settle", testSettle},
		{"ReserveWithoutHolder", testReserveWithoutHolder},
		{"ConcurrentReservations", testConcurrentReservations},
		{"ConcurrentWritesAndLookups", testConcurrentWrites},
		{"Watermarks", testWatermarks},
		{"IDs", testIDs},
		{"CanceledContext", testCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newIndex(t), opts)
		})
	}
}

// GUIDs in the canonical lower-case form Dataverse uses.
func guid(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n*7919) }

func rec(entity, id string, kv ...string) matcher.Record {
	r := matcher.Record{Entity: entity, ID: id, Attrs: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Attrs[kv[i]] = kv[i+1]
	}
	return r
}

func upsert(t *testing.T, x Index, r matcher.Record, keys ...string) {
	t.Helper()
	if err := x.Upsert(t.Context(), r, keys); err != nil {
		t.Fatalf("Upsert %s/%s: %v", r.Entity, r.ID, err)
	}
}

func lookup(t *testing.T, x Index, q rules.Lookup) rules.LookupResult {
	t.Helper()
	res, err := x.Lookup(t.Context(), q)
	if err != nil {
		t.Fatalf("Lookup %+v: %v", q, err)
	}
	// An index may hand attributes out packed (matcher.Record.Packed): read them as a map.
	for i, r := range res.Records {
		if r.Attrs != nil && r.Packed != "" {
			t.Fatalf("record %s carries both a map and packed attributes", r.ID)
		}
		res.Records[i] = r.Unpacked()
	}
	return res
}

// refs returns "entity/id" of each record, sorted, failing on a record returned twice.
func refs(t *testing.T, recs []matcher.Record) []string {
	t.Helper()
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Entity+"/"+r.ID)
	}
	sort.Strings(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			t.Fatalf("record %s returned twice", out[i])
		}
	}
	return out
}

func wantRefs(t *testing.T, what string, got []matcher.Record, want ...string) {
	t.Helper()
	g := refs(t, got)
	sort.Strings(want)
	if len(want) == 0 {
		want = []string{}
	}
	if !slices.Equal(g, want) {
		t.Fatalf("%s: got %v, want %v", what, g, want)
	}
}

func testLookupByKeys(t *testing.T, x Index, _ Options) {
	a, b, c := guid(1), guid(2), guid(3)
	upsert(t, x, rec("contact", a, "lastname", "Smith"), "contact|email|a@x.com", "contact|last|smith")
	upsert(t, x, rec("contact", b, "lastname", "Smith"), "contact|email|b@x.com", "contact|last|smith")
	upsert(t, x, rec("contact", c, "lastname", "Jones"), "contact|email|c@x.com", "contact|last|jones")

	wantRefs(t, "one key, one record", lookup(t, x, rules.Lookup{Keys: []string{"contact|email|a@x.com"}}).Records, "contact/"+a)
	wantRefs(t, "one key, two records", lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith"}}).Records, "contact/"+a, "contact/"+b)
	wantRefs(t, "union of keys, each record once",
		lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith", "contact|email|a@x.com", "contact|email|c@x.com", "contact|last|smith"}}).Records,
		"contact/"+a, "contact/"+b, "contact/"+c)
	res := lookup(t, x, rules.Lookup{Keys: []string{"contact|email|c@x.com"}})
	if len(res.Records) != 1 || res.Records[0].Attrs["lastname"] != "Jones" {
		t.Fatalf("cached attributes not returned: %+v", res.Records)
	}
	if len(res.Conflicts) != 0 {
		t.Fatalf("conflicts without reservations: %v", res.Conflicts)
	}
}

func testEmptyAndUnknown(t *testing.T, x Index, _ Options) {
	res := lookup(t, x, rules.Lookup{})
	if len(res.Records) != 0 || len(res.Conflicts) != 0 {
		t.Fatalf("empty lookup on an empty index: %+v", res)
	}
	upsert(t, x, rec("contact", guid(1)), "k1")
	wantRefs(t, "unknown key", lookup(t, x, rules.Lookup{Keys: []string{"k2", ""}}).Records)
	// A key that differs only in case is another key: normalisation is the matcher's job.
	wantRefs(t, "key case", lookup(t, x, rules.Lookup{Keys: []string{"K1"}}).Records)
}

func testPerKeyLimit(t *testing.T, x Index, opts Options) {
	var block []string
	for i := 0; i < 12; i++ {
		id := guid(100 + i)
		block = append(block, "contact/"+id)
		upsert(t, x, rec("contact", id), "contact|last|smith", fmt.Sprintf("contact|email|%d", i))
	}
	solo := guid(999)
	upsert(t, x, rec("contact", solo), "contact|email|solo")

	res := lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith", "contact|email|solo"}, PerKeyLimit: 5})
	got := refs(t, res.Records)
	if len(got) != 6 || !slices.Contains(got, "contact/"+solo) {
		t.Fatalf("limit 5 per key: want 5 of the block and the solo record, got %d: %v", len(got), got)
	}
	for _, r := range got {
		if r != "contact/"+solo && !slices.Contains(block, r) {
			t.Fatalf("record %s is not filed under the key", r)
		}
	}
	if n := len(lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith"}, PerKeyLimit: 12}).Records); n != 12 {
		t.Fatalf("limit equal to the block: got %d, want 12", n)
	}
	if n := len(lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith"}}).Records); n != 12 {
		t.Fatalf("no limit: got %d, want 12", n)
	}
	// A key's maximum (MaxBlocks: a rule's broad key) skips that key, and only that key, when its block
	// is larger; a block of exactly that many records is read.
	for _, tc := range []struct {
		name     string
		perKey   int
		maxBlock int
		want     int // records of the smith block returned
	}{
		{"over the maximum", 10, 11, 0},
		{"over, maximum far below PerKeyLimit", 200, 2, 0},
		{"at the maximum", 200, 12, 12},
		{"under the maximum", 200, 50, 12},
		{"under the maximum, PerKeyLimit still caps", 4, 50, 4},
		{"maximum above PerKeyLimit, block over it", 4, 11, 0},
	} {
		res = lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith", "contact|email|solo"}, PerKeyLimit: tc.perKey,
			MaxBlocks: []int{tc.maxBlock}})
		got := refs(t, res.Records)
		if opts.KeyCollisions && len(got) == 1 {
			continue // skipped as if over its maximum: allowed when ranges are shared
		}
		if !slices.Contains(got, "contact/"+solo) || len(got) != tc.want+1 {
			t.Fatalf("%s: want %d of the block and the solo record, got %d: %v", tc.name, tc.want, len(got), got)
		}
	}
}

// testBigBlocks files hundreds of records under a few keys (a common surname with an
// initial), moves some between keys, deletes some, and checks every key's records exactly.
func testBigBlocks(t *testing.T, x Index, opts Options) {
	const n = 300
	want := map[string]map[string]bool{"nm|a": {}, "nm|b": {}, "nm|c": {}}
	file := func(i int, keys ...string) {
		t.Helper()
		for _, set := range want {
			delete(set, guid(i))
		}
		for _, k := range keys {
			if set, ok := want[k]; ok {
				set[guid(i)] = true
			}
		}
		upsert(t, x, rec("contact", guid(i), "i", fmt.Sprint(i)), append(keys, fmt.Sprintf("own|%d", i))...)
	}
	var batch []index.Entry
	for i := 0; i < n; i++ {
		k := []string{"nm|a", "nm|b"}[i%2]
		if i < 40 {
			file(i, k, "nm|c") // one at a time
			continue
		}
		want[k][guid(i)], want["nm|c"][guid(i)] = true, true
		batch = append(batch, index.Entry{Record: rec("contact", guid(i), "i", fmt.Sprint(i)), Keys: []string{k, "nm|c", fmt.Sprintf("own|%d", i)}})
	}
	if err := x.UpsertBatch(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 7 { // move every 7th record off nm|c and onto the other name
		file(i, []string{"nm|b", "nm|a"}[i%2])
	}
	for i := 3; i < n; i += 11 {
		if err := x.Delete(t.Context(), "contact", guid(i)); err != nil {
			t.Fatal(err)
		}
		for _, set := range want {
			delete(set, guid(i))
		}
	}
	for k, set := range want {
		var ids []string
		for id := range set {
			ids = append(ids, "contact/"+id)
		}
		wantRefs(t, k, lookup(t, x, rules.Lookup{Keys: []string{k}}).Records, ids...)
		if got := len(lookup(t, x, rules.Lookup{Keys: []string{k}, PerKeyLimit: 25}).Records); got != 25 {
			t.Fatalf("%s limited to 25: got %d", k, got)
		}
		// A big block is skipped when it is over its maximum by one record, read when at it.
		size := len(ids)
		over := lookup(t, x, rules.Lookup{Keys: []string{k}, MaxBlocks: []int{size - 1}})
		if len(over.Records) != 0 || len(over.Skipped) != 0 {
			t.Fatalf("%s (%d records) with max block %d: got %d records, skipped %q; want none, and no report without Elsewhere", k, size, size-1, len(over.Records), over.Skipped)
		}
		// A caller counting blocks with records of its own (Elsewhere, even empty) is told.
		over = lookup(t, x, rules.Lookup{Keys: []string{k}, MaxBlocks: []int{size - 1}, Elsewhere: map[string]int{}})
		if len(over.Records) != 0 || !slices.Equal(over.Skipped, []string{k}) {
			t.Fatalf("%s (%d records) with max block %d: got %d records, skipped %q; want none, skipped", k, size, size-1, len(over.Records), over.Skipped)
		}
		// Twice: the first read may teach the index that the key is big.
		for range 2 {
			res := lookup(t, x, rules.Lookup{Keys: []string{k}, MaxBlocks: []int{12}, Elsewhere: map[string]int{}})
			if len(res.Records) != 0 || !slices.Equal(res.Skipped, []string{k}) {
				t.Fatalf("%s (%d records) with max block 12: got %d records, skipped %q; want none, skipped", k, size, len(res.Records), res.Skipped)
			}
		}
		at := lookup(t, x, rules.Lookup{Keys: []string{k}, MaxBlocks: []int{size}, Elsewhere: map[string]int{}})
		if !opts.KeyCollisions || len(at.Records) > 0 {
			wantRefs(t, k+" at its max block", at.Records, ids...)
			if len(at.Skipped) != 0 {
				t.Fatalf("%s at its max block reported skipped", k)
			}
		}
	}
	if got := len(lookup(t, x, rules.Lookup{Keys: []string{"nm|a", "nm|b"}, PerKeyLimit: 10}).Records); got != 20 {
		t.Fatalf("two big keys limited to 10 each: got %d", got)
	}
}

// testElsewhere checks that records the caller holds apart (Lookup.Elsewhere) count toward a
// key's maximum, and that the skipped keys are reported once each.
func testElsewhere(t *testing.T, x Index, opts Options) {
	var block []string
	for i := range 8 {
		id := guid(200 + i)
		block = append(block, "contact/"+id)
		upsert(t, x, rec("contact", id), "contact|last|jones")
	}
	solo := guid(998)
	upsert(t, x, rec("contact", solo), "contact|email|solo")
	const k, empty = "contact|last|jones", "contact|last|nobody"
	for _, tc := range []struct {
		name      string
		elsewhere map[string]int
		read      bool     // the block is returned
		skipped   []string // reported skipped
	}{
		{"none elsewhere", nil, true, nil},
		{"at the maximum with those elsewhere", map[string]int{k: 2}, true, nil},
		{"over the maximum with those elsewhere", map[string]int{k: 3}, false, []string{k}},
		{"an empty key over its maximum elsewhere", map[string]int{empty: 11}, true, []string{empty}},
		{"an empty key at its maximum elsewhere", map[string]int{empty: 10}, true, nil},
		{"elsewhere for a key without a maximum", map[string]int{"contact|email|solo": 50}, true, nil},
	} {
		q := rules.Lookup{Keys: []string{k, empty, k, "contact|email|solo"}, MaxBlocks: []int{10, 10, 10, 0}, Elsewhere: tc.elsewhere}
		res := lookup(t, x, q)
		want := []string{"contact/" + solo}
		if tc.read {
			want = append(want, block...)
		}
		if opts.KeyCollisions && !tc.read && len(res.Records) == 1 {
			continue
		}
		wantRefs(t, tc.name, res.Records, want...)
		got := slices.Clone(res.Skipped)
		slices.Sort(got)
		if !slices.Equal(got, tc.skipped) {
			t.Fatalf("%s: skipped %q, want %q", tc.name, res.Skipped, tc.skipped)
		}
	}
}

func testUpsertReplacesKeys(t *testing.T, x Index, _ Options) {
	id := guid(7)
	upsert(t, x, rec("contact", id, "emailaddress1", "old@x.com"), "contact|email|old@x.com", "contact|last|smith")
	upsert(t, x, rec("contact", id, "emailaddress1", "new@x.com"), "contact|email|new@x.com", "contact|last|smith")
	wantRefs(t, "old key after update", lookup(t, x, rules.Lookup{Keys: []string{"contact|email|old@x.com"}}).Records)
	res := lookup(t, x, rules.Lookup{Keys: []string{"contact|email|new@x.com"}})
	wantRefs(t, "new key after update", res.Records, "contact/"+id)
	if res.Records[0].Attrs["emailaddress1"] != "new@x.com" {
		t.Fatalf("attributes not updated: %v", res.Records[0].Attrs)
	}
	wantRefs(t, "kept key after update", lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith"}}).Records, "contact/"+id)
	// Filing under the same key twice, then under no key at all.
	upsert(t, x, rec("contact", id), "contact|last|jones", "contact|last|jones")
	wantRefs(t, "key given twice", lookup(t, x, rules.Lookup{Keys: []string{"contact|last|jones"}}).Records, "contact/"+id)
	upsert(t, x, rec("contact", id))
	wantRefs(t, "filed under no key", lookup(t, x, rules.Lookup{Keys: []string{"contact|last|jones", "contact|last|smith", "contact|email|new@x.com"}}).Records)
}

func testUpsertReplacesAttrs(t *testing.T, x Index, _ Options) {
	id := guid(8)
	upsert(t, x, rec("contact", id, "firstname", "Robert", "telephone1", "+44 20 7946 0000"), "k")
	upsert(t, x, rec("contact", id, "firstname", "Bob"), "k")
	res := lookup(t, x, rules.Lookup{Keys: []string{"k"}})
	if len(res.Records) != 1 || !reflect.DeepEqual(res.Records[0].Attrs, map[string]string{"firstname": "Bob"}) {
		t.Fatalf("attributes after update: %+v", res.Records)
	}
}

func testDelete(t *testing.T, x Index, _ Options) {
	a, b := guid(1), guid(2)
	upsert(t, x, rec("contact", a), "k1", "k2")
	upsert(t, x, rec("contact", b), "k2")
	if err := x.Delete(t.Context(), "contact", a); err != nil {
		t.Fatal(err)
	}
	wantRefs(t, "after delete", lookup(t, x, rules.Lookup{Keys: []string{"k1", "k2"}}).Records, "contact/"+b)
	for _, del := range [][2]string{{"contact", a}, {"contact", guid(404)}, {"nosuchtable", a}} {
		if err := x.Delete(t.Context(), del[0], del[1]); err != nil {
			t.Fatalf("deleting an absent record %v: %v", del, err)
		}
	}
	upsert(t, x, rec("contact", a), "k1")
	wantRefs(t, "filed again after delete", lookup(t, x, rules.Lookup{Keys: []string{"k1"}}).Records, "contact/"+a)
}

func testTablesKeptApart(t *testing.T, x Index, _ Options) {
	id := guid(5)
	upsert(t, x, rec("contact", id, "name", "contact row"), "shared")
	upsert(t, x, rec("lead", id, "name", "lead row"), "shared")
	res := lookup(t, x, rules.Lookup{Keys: []string{"shared"}})
	wantRefs(t, "same id in two tables", res.Records, "contact/"+id, "lead/"+id)
	for _, r := range res.Records {
		if r.Attrs["name"] != r.Entity+" row" {
			t.Fatalf("%s got the attributes of another table: %v", r.Entity, r.Attrs)
		}
	}
	if err := x.Delete(t.Context(), "lead", id); err != nil {
		t.Fatal(err)
	}
	wantRefs(t, "after deleting the lead", lookup(t, x, rules.Lookup{Keys: []string{"shared"}}).Records, "contact/"+id)
}

func testAttrsRoundTrip(t *testing.T, x Index, _ Options) {
	long := strings.Repeat("Ünïcødé ", 250)
	many := map[string]string{}
	for i := 0; i < 60; i++ {
		many[fmt.Sprintf("new_attr_%02d", i)] = fmt.Sprint(i)
	}
	cases := []matcher.Record{
		rec("contact", guid(1), "firstname", "Zoë", "lastname", "Ó Briain-Müller", "fullname", "Zoë Ó Briain-Müller",
			"emailaddress1", "zoë@exämple.com", "address1_city", "Kraków", "description", "line one\nline two\ttab"),
		rec("contact", guid(2), "firstname", "王", "lastname", "小明", "address1_city", "東京", "nickname", "🙂 emoji 👍🏽"),
		rec("contact", guid(3), "firstname", "محمد", "lastname", "עברית", "empty", ""),
		rec("account", "ACC-0001", "name", "Ünïcødé Ltd", "long", long),
		rec("account", "6D81597F-0D61-4A34-8E5E-7E9B1F7F4C11", "name", "upper-case GUID stays as given"),
		rec("contact", "c1"),
		rec("contact", strings.Repeat("x", 15)),
		rec("contact", strings.Repeat("y", 16)),
		rec("contact", strings.Repeat("z", 17)),
		{Entity: "contact", ID: guid(9), Attrs: many},
		{Entity: "contact", ID: guid(10), Attrs: map[string]string{"ключ": "значение", "a b": "c=d|e"}},
	}
	for i, r := range cases {
		upsert(t, x, r, fmt.Sprintf("key-%d", i), "all")
	}
	for i, r := range cases {
		res := lookup(t, x, rules.Lookup{Keys: []string{fmt.Sprintf("key-%d", i)}})
		if len(res.Records) != 1 {
			t.Fatalf("case %d: got %d records", i, len(res.Records))
		}
		if got := res.Records[0]; !reflect.DeepEqual(got, r) {
			t.Errorf("case %d: round trip changed the record:\n got %#v\nwant %#v", i, got, r)
		}
	}
	if n := len(lookup(t, x, rules.Lookup{Keys: []string{"all"}}).Records); n != len(cases) {
		t.Fatalf("all records under one key: got %d, want %d", n, len(cases))
	}
	// The returned map is the caller's: changing it does not change the index.
	res := lookup(t, x, rules.Lookup{Keys: []string{"key-0"}})
	res.Records[0].Attrs["firstname"] = "changed"
	if got := lookup(t, x, rules.Lookup{Keys: []string{"key-0"}}).Records[0].Attrs["firstname"]; got != "Zoë" {
		t.Fatalf("index changed through a returned record: %q", got)
	}
}

func testRejectsIncomplete(t *testing.T, x Index, _ Options) {
	if err := x.Upsert(t.Context(), rec("contact", ""), []string{"k"}); !errors.Is(err, index.ErrNoID) {
		t.Fatalf("Upsert without id: got %v, want ErrNoID", err)
	}
	if err := x.Upsert(t.Context(), rec("", guid(1)), []string{"k"}); !errors.Is(err, index.ErrNoEntity) {
		t.Fatalf("Upsert without entity: got %v, want ErrNoEntity", err)
	}
	err := x.UpsertBatch(t.Context(), []index.Entry{{Record: rec("contact", guid(1)), Keys: []string{"k"}}, {Record: rec("contact", ""), Keys: []string{"k"}}})
	if !errors.Is(err, index.ErrNoID) {
		t.Fatalf("UpsertBatch with a record without id: got %v, want ErrNoID", err)
	}
	wantRefs(t, "nothing filed by a rejected batch", lookup(t, x, rules.Lookup{Keys: []string{"k"}}).Records)
}

func testBatchUpsert(t *testing.T, x Index, _ Options) {
	const n = 1200
	entries := make([]index.Entry, 0, n+1)
	for i := 0; i < n; i++ {
		entries = append(entries, index.Entry{
			Record: rec("contact", guid(i), "i", fmt.Sprint(i)),
			Keys:   []string{fmt.Sprintf("mod|%d", i%10), fmt.Sprintf("own|%d", i)},
		})
	}
	// The same record again later in the batch: the last version wins.
	entries = append(entries, index.Entry{Record: rec("contact", guid(3), "i", "again"), Keys: []string{"own|3", "moved"}})
	if err := x.UpsertBatch(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	if got := len(lookup(t, x, rules.Lookup{Keys: []string{"mod|7"}}).Records); got != n/10 {
		t.Fatalf("records under mod|7: got %d, want %d", got, n/10)
	}
	if got := len(lookup(t, x, rules.Lookup{Keys: []string{"mod|3"}}).Records); got != n/10-1 {
		t.Fatalf("records under mod|3 (one moved away): got %d, want %d", got, n/10-1)
	}
	res := lookup(t, x, rules.Lookup{Keys: []string{"moved"}})
	if len(res.Records) != 1 || res.Records[0].Attrs["i"] != "again" {
		t.Fatalf("last version in the batch: %+v", res.Records)
	}
	for _, i := range []int{0, 599, 1199} {
		res := lookup(t, x, rules.Lookup{Keys: []string{fmt.Sprintf("own|%d", i)}})
		if len(res.Records) != 1 || res.Records[0].Attrs["i"] != fmt.Sprint(i) {
			t.Fatalf("own|%d: %+v", i, res.Records)
		}
	}
	if err := x.UpsertBatch(t.Context(), nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

func reserve(t *testing.T, x Index, holder string, ttl time.Duration, keys ...string) []string {
	t.Helper()
	res := lookup(t, x, rules.Lookup{Reserve: keys, Holder: holder, TTL: ttl})
	return res.Conflicts
}

func testReservationConflict(t *testing.T, x Index, _ Options) {
	id := guid(1)
	upsert(t, x, rec("contact", id), "contact|last|smith")
	res := lookup(t, x, rules.Lookup{Keys: []string{"contact|last|smith"}, Reserve: []string{"s|a@x.com", "s|+441"}, Holder: "A", TTL: time.Minute})
	if len(res.Conflicts) != 0 {
		t.Fatalf("first claim: conflicts %v", res.Conflicts)
	}
	wantRefs(t, "records with reservations", res.Records, "contact/"+id)
	if c := reserve(t, x, "B", time.Minute, "s|b@x.com", "s|+441", "s|a@x.com"); !slices.Equal(c, []string{"s|+441", "s|a@x.com"}) {
		t.Fatalf("B claims keys A holds: conflicts %v, want [s|+441 s|a@x.com] in request order", c)
	}
	// All or nothing: B's conflicting claim did not take the free key either.
	if c := reserve(t, x, "C", time.Minute, "s|b@x.com"); len(c) != 0 {
		t.Fatalf("a key of a refused claim was kept: conflicts %v", c)
	}
	if c := reserve(t, x, "A", time.Minute, "s|b@x.com"); !slices.Equal(c, []string{"s|b@x.com"}) {
		t.Fatalf("A claims a key C holds: conflicts %v", c)
	}
}

func testReservationRetry(t *testing.T, x Index, _ Options) {
	if c := reserve(t, x, "req-1", time.Minute, "s|a@x.com"); len(c) != 0 {
		t.Fatalf("first claim: %v", c)
	}
	// Dataverse's retry of the same request carries the same holder: same answer.
	if c := reserve(t, x, "req-1", time.Minute, "s|a@x.com"); len(c) != 0 {
		t.Fatalf("retry by the same holder: conflicts %v", c)
	}
	if c := reserve(t, x, "req-2", time.Minute, "s|a@x.com"); len(c) != 1 {
		t.Fatalf("another holder after the retry: conflicts %v", c)
	}
}

func testReservationExpires(t *testing.T, x Index, _ Options) {
	const ttl = 300 * time.Millisecond
	start := time.Now()
	if c := reserve(t, x, "A", ttl, "s|a@x.com"); len(c) != 0 {
		t.Fatalf("first claim: %v", c)
	}
	if c := reserve(t, x, "B", ttl, "s|a@x.com"); len(c) != 1 && time.Since(start) < ttl {
		t.Fatalf("claim before expiry: conflicts %v", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := reserve(t, x, "B", ttl, "s|a@x.com")
		if len(c) == 0 {
			if since := time.Since(start); since < ttl-50*time.Millisecond {
				t.Fatalf("reservation gone after %v, before its TTL %v", since, ttl)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reservation with TTL %v still held after 5s", ttl)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testReleaseOnlyByHolder(t *testing.T, x Index, _ Options) {
	reserve(t, x, "A", time.Minute, "s|a@x.com", "s|b@x.com")
	if err := x.Release(t.Context(), []string{"s|a@x.com"}, "B"); err != nil {
		t.Fatal(err)
	}
	if c := reserve(t, x, "C", time.Minute, "s|a@x.com"); len(c) != 1 {
		t.Fatalf("released by a non-holder: conflicts %v", c)
	}
	if err := x.Release(t.Context(), []string{"s|a@x.com", "s|never"}, "A"); err != nil {
		t.Fatal(err)
	}
	if c := reserve(t, x, "C", time.Minute, "s|a@x.com"); len(c) != 0 {
		t.Fatalf("released by its holder: conflicts %v", c)
	}
	if c := reserve(t, x, "C", time.Minute, "s|b@x.com"); len(c) != 1 {
		t.Fatalf("a key not released: conflicts %v", c)
	}
	if err := x.Release(t.Context(), nil, "A"); err != nil {
		t.Fatalf("release of nothing: %v", err)
	}
}

func testSettle(t *testing.T, x Index, opts Options) {
	reserve(t, x, "A", time.Minute, "s|a@x.com", "s|b@x.com")
	if err := x.Settle(t.Context(), []string{"s|a@x.com", "s|unknown"}); err != nil {
		t.Fatal(err)
	}
	if opts.SettleGrace > 0 {
		if c := reserve(t, x, "B", time.Minute, "s|a@x.com"); !slices.Equal(c, []string{"s|a@x.com"}) {
			t.Fatalf("within the settle grace: conflicts %v, want [s|a@x.com]", c)
		}
		time.Sleep(opts.SettleGrace + opts.SettleGrace/2)
	}
	if c := reserve(t, x, "B", time.Minute, "s|a@x.com", "s|b@x.com"); !slices.Equal(c, []string{"s|b@x.com"}) {
		t.Fatalf("after settling a@: conflicts %v, want [s|b@x.com]", c)
	}
}

func testReserveWithoutHolder(t *testing.T, x Index, _ Options) {
	_, err := x.Lookup(t.Context(), rules.Lookup{Reserve: []string{"s|a"}, TTL: time.Minute})
	if !errors.Is(err, index.ErrNoHolder) {
		t.Fatalf("got %v, want ErrNoHolder", err)
	}
}

func testConcurrentReservations(t *testing.T, x Index, _ Options) {
	const workers = 20
	for round := 0; round < 5; round++ {
		keys := []string{fmt.Sprintf("contact|emailaddress1|same%d@x.com", round), fmt.Sprintf("contact|mobilephone|+4477009%05d", round)}
		var wg sync.WaitGroup
		start := make(chan struct{})
		winners := make(chan string, workers)
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(holder string) {
				defer wg.Done()
				<-start
				res, err := x.Lookup(context.WithoutCancel(t.Context()), rules.Lookup{Keys: keys, Reserve: keys, Holder: holder, TTL: time.Minute})
				if err != nil {
					errs <- err
					return
				}
				if len(res.Conflicts) == 0 {
					winners <- holder
				}
			}(fmt.Sprintf("holder-%d-%d", round, w))
		}
		close(start)
		wg.Wait()
		close(winners)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var won []string
		for h := range winners {
			won = append(won, h)
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d of %d concurrent creates won the reservation (%v), want exactly 1", round, len(won), workers, won)
		}
	}
}

func testConcurrentWrites(t *testing.T, x Index, _ Options) {
	ctx := context.WithoutCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				id := guid(w*1000 + i)
				if err := x.Upsert(ctx, rec("contact", id, "w", fmt.Sprint(w)), []string{fmt.Sprintf("w|%d", w), "all"}); err != nil {
					errs <- err
					return
				}
				if _, err := x.Lookup(ctx, rules.Lookup{Keys: []string{"all"}, PerKeyLimit: 10}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(lookup(t, x, rules.Lookup{Keys: []string{"all"}}).Records); n != 200 {
		t.Fatalf("after concurrent writes: %d records under all, want 200", n)
	}
	for w := 0; w < 8; w++ {
		for _, r := range lookup(t, x, rules.Lookup{Keys: []string{fmt.Sprintf("w|%d", w)}}).Records {
			if r.Attrs["w"] != fmt.Sprint(w) {
				t.Fatalf("record %s under w|%d has w=%s", r.ID, w, r.Attrs["w"])
			}
		}
	}
}

func testWatermarks(t *testing.T, x Index, _ Options) {
	w, err := x.Watermark(t.Context(), "contact")
	if err != nil || !w.IsZero() {
		t.Fatalf("never synced: %v %v", w, err)
	}
	at := time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.FixedZone("CET", 3600))
	if err := x.SetWatermark(t.Context(), "contact", at); err != nil {
		t.Fatal(err)
	}
	if err := x.SetWatermark(t.Context(), "account", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if w, err := x.Watermark(t.Context(), "contact"); err != nil || !w.Equal(at) {
		t.Fatalf("contact watermark: got %v %v, want %v", w, err, at)
	}
	if w, err := x.Watermark(t.Context(), "account"); err != nil || !w.Equal(at.Add(time.Hour)) {
		t.Fatalf("account watermark: got %v %v", w, err)
	}
}

func testIDs(t *testing.T, x Index, _ Options) {
	want := map[string]bool{}
	for i := 0; i < 30; i++ {
		upsert(t, x, rec("contact", guid(i)), fmt.Sprintf("k%d", i))
		want[guid(i)] = true
	}
	upsert(t, x, rec("contact", "c-raw"), "kraw")
	want["c-raw"] = true
	upsert(t, x, rec("lead", guid(500)), "k1")
	if err := x.Delete(t.Context(), "contact", guid(3)); err != nil {
		t.Fatal(err)
	}
	delete(want, guid(3))
	got := map[string]bool{}
	err := x.IDs(t.Context(), "contact", func(ids []string) error {
		for _, id := range ids {
			if got[id] {
				return fmt.Errorf("id %s listed twice", id)
			}
			got[id] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range want {
		if !got[id] {
			t.Errorf("IDs(contact) misses %s", id)
		}
	}
	for id := range got {
		if !want[id] {
			t.Errorf("IDs(contact) lists %s", id)
		}
	}
	stop := errors.New("stop")
	if err := x.IDs(t.Context(), "contact", func([]string) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("callback error not returned: %v", err)
	}
	if err := x.IDs(t.Context(), "nosuchtable", func(ids []string) error { return fmt.Errorf("unexpected ids %v", ids) }); err != nil {
		t.Fatal(err)
	}
}

func testCanceled(t *testing.T, x Index, _ Options) {
	upsert(t, x, rec("contact", guid(1)), "k")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := x.Lookup(ctx, rules.Lookup{Keys: []string{"k"}}); err == nil {
		t.Fatal("Lookup with a canceled context succeeded")
	}
}
