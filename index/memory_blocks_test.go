package index

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

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

// TestMemoryRecordDataCompaction replaces and deletes records until their strings' garbage
// is compacted away several times, and checks every record's id, attributes and form after
// each step, and that strings handed out before a compaction keep their values.
func TestMemoryRecordDataCompaction(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	m.data.compactAt = 4 << 10
	want := map[string]matcher.Record{}
	put := func(id string, version int) {
		t.Helper()
		rec := matcher.Record{Entity: "contact", ID: id,
			Attrs: map[string]string{"lastname": fmt.Sprintf("%s-v%d", id, version), "firstname": strings.Repeat("x", version%7)},
			Form:  fmt.Sprintf("form of %s v%d", id, version)}
		if err := m.Upsert(ctx, rec, []string{"k|" + id, "all"}); err != nil {
			t.Fatal(err)
		}
		want[id] = rec
	}
	check := func(step string) {
		t.Helper()
		res, err := m.Lookup(ctx, rules.Lookup{Keys: []string{"all"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != len(want) {
			t.Fatalf("%s: %d records, want %d", step, len(res.Records), len(want))
		}
		for _, r := range res.Records {
			w, ok := want[r.ID]
			last, _ := r.Attr("lastname")
			if !ok || r.Form != w.Form || last != w.Attrs["lastname"] {
				t.Fatalf("%s: record %q form %q lastname %q, want %+v", step, r.ID, r.Form, last, w)
			}
		}
	}
	var early []matcher.Record // handed out before the compactions
	compactions, lastGarbage := 0, 0
	for round := range 40 {
		for i := range 30 {
			put(fmt.Sprintf("r%02d", i), round)
		}
		if round == 0 {
			res, _ := m.Lookup(ctx, rules.Lookup{Keys: []string{"all"}})
			early = res.Records
		}
		for i := 0; i < 30; i += 7 {
			id := fmt.Sprintf("r%02d", i)
			if err := m.Delete(ctx, "contact", id); err != nil {
				t.Fatal(err)
			}
			delete(want, id)
		}
		bufs := len(m.data.bufs)
		check(fmt.Sprintf("round %d", round))
		if m.data.garbage < lastGarbage {
			compactions++
			// Every live record's strings are in the new buffers: the old ones can be freed.
			for i := range m.slots {
				if r := &m.slots[i]; r.live && !inBufs(m.data.bufs, r.form) {
					t.Fatalf("round %d: record %q still points into a compacted buffer", round, r.id)
				}
			}
		}
		lastGarbage = m.data.garbage
		if bufs > 8 {
			t.Fatalf("round %d: %d buffers: garbage is not being compacted", round, bufs)
		}
	}
	if compactions == 0 {
		t.Fatal("no compaction happened")
	}
	for _, r := range early {
		if !strings.HasPrefix(r.Form, "form of "+r.ID+" v0") {
			t.Fatalf("a record handed out before the compactions changed: %q %q", r.ID, r.Form)
		}
	}
}

// inBufs reports whether s's bytes lie in one of bufs.
func inBufs(bufs [][]byte, s string) bool {
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	for _, b := range bufs {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if p >= lo && p+uintptr(len(s)) <= lo+uintptr(cap(b)) {
			return true
		}
	}
	return false
}

// TestMemoryLookupInto: a lookup appends its candidates to the caller's storage when it has
// room (Lookup.Into), so that the engine's decisions reuse one slice; the records are those of
// a lookup without it.
func TestMemoryLookupInto(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	for i := range 5 {
		rec := matcher.Record{Entity: "contact", ID: fmt.Sprint("c", i), Attrs: map[string]string{"lastname": "x"}}
		if err := m.Upsert(ctx, rec, []string{"k"}); err != nil {
			t.Fatal(err)
		}
	}
	plain, err := m.Lookup(ctx, rules.Lookup{Keys: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	into := make([]matcher.Record, 0, 16)
	got, err := m.Lookup(ctx, rules.Lookup{Keys: []string{"k"}, Into: into})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 5 || unsafe.SliceData(got.Records) != unsafe.SliceData(into) {
		t.Fatalf("got %d records in storage %p, want 5 in the caller's %p", len(got.Records), unsafe.SliceData(got.Records), unsafe.SliceData(into))
	}
	for i := range got.Records {
		if got.Records[i].ID != plain.Records[i].ID || got.Records[i].Form != plain.Records[i].Form {
			t.Fatalf("record %d: %+v, without Into %+v", i, got.Records[i], plain.Records[i])
		}
	}
}
