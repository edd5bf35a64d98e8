package redisindex

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index/indextest"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// collide replaces the member-prefix and record hashes with weak ones for the rest of the
// test: with 4 record slots and 4 prefixes, nearly every record shares its slot and nearly
// every key shares its members' range with others. Behaviour must not change.
func collide(t *testing.T) {
	kp, rh := keyPrefix, recordHash
	keyPrefix = func(kid uint64) uint32 { return kp(kid) & 3 }
	recordHash = func(ref string) uint32 { return rh(ref) & 3 }
	t.Cleanup(func() { keyPrefix, recordHash = kp, rh })
}

func newTestIndex(t *testing.T, addrs []string, buckets int) *Index {
	t.Helper()
	x, err := New(config.Redis{Addrs: addrs, Prefix: redistest.Prefix(t)}, WithBuckets(buckets))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	if err := x.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestConformanceUnderHashCollisions(t *testing.T) {
	addr := redistest.Standalone(t)
	collide(t)
	indextest.RunWith(t, func(t *testing.T) indextest.Index { return newTestIndex(t, []string{addr}, 1) },
		indextest.Options{KeyCollisions: true})
}

func TestCollidingRecordsStayApart(t *testing.T) {
	addr := redistest.Standalone(t)
	collide(t)
	x := newTestIndex(t, []string{addr}, 1)
	// Find two records sharing a slot and two keys sharing a prefix.
	var a, b string
	for i := 1; b == ""; i++ {
		id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		switch {
		case a == "":
			a = id
		case recordHash(encodeRef(1, id)) == recordHash(encodeRef(1, a)):
			b = id
		}
	}
	var k1, k2 string
	for i := 0; k2 == ""; i++ {
		k := fmt.Sprintf("contact|em1|%d", i)
		switch {
		case k1 == "":
			k1 = k
		case keyPrefix(keyID(k)) == keyPrefix(keyID(k1)):
			k2 = k
		}
	}
	ctx := t.Context()
	recA := matcher.Record{Entity: "contact", ID: a, Attrs: map[string]string{"n": "A"}}
	recB := matcher.Record{Entity: "contact", ID: b, Attrs: map[string]string{"n": "B"}}
	if err := x.Upsert(ctx, recA, []string{k1, "shared"}); err != nil {
		t.Fatal(err)
	}
	if err := x.Upsert(ctx, recB, []string{k2, "shared"}); err != nil {
		t.Fatal(err)
	}
	ids := func(keys ...string) []string {
		res, err := x.Lookup(ctx, rules.Lookup{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range res.Records {
			out = append(out, r.Unpacked().Attrs["n"])
		}
		slices.Sort(out)
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
	check("k1 (shares its member with k2's record)", ids(k1), "A")
	check("k2", ids(k2), "B")
	check("shared key, same member for both", ids("shared"), "A", "B")
	// Moving A off the shared key must not unfile B, whose member it is too.
	if err := x.Upsert(ctx, recA, []string{k1}); err != nil {
		t.Fatal(err)
	}
	check("shared after A left", ids("shared"), "B")
	if err := x.Upsert(ctx, recA, []string{k1, "shared"}); err != nil {
		t.Fatal(err)
	}
	if err := x.Delete(ctx, "contact", a); err != nil {
		t.Fatal(err)
	}
	check("shared after deleting A", ids("shared"), "B")
	check("k1 after deleting A", ids(k1))
	check("k2 after deleting A", ids(k2), "B")
	if err := x.Delete(ctx, "contact", b); err != nil {
		t.Fatal(err)
	}
	check("everything after deleting both", ids(k1, k2, "shared"))
	// Nothing left behind.
	c := redistest.Client(t, addr)
	if n := c.ZCard(ctx, x.Prefix()+"k:0").Val(); n != 0 {
		t.Fatalf("%d members left after deleting every record", n)
	}
	if n := c.HLen(ctx, x.Prefix()+"r:0").Val(); n != 0 {
		t.Fatalf("%d record slots left after deleting every record", n)
	}
}

func TestEntryEncodingRoundTrip(t *testing.T) {
	es := []entry{
		{ref: encodeRef(3, "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11"), attrs: []codedAttr{{2, "b"}, {1, ""}, {300, "Ünïcødé"}}, kids: []uint64{1, kidMask}},
		{ref: encodeRef(127, "raw-id"), kids: nil},
		{ref: encodeRef(1, "x")},
	}
	got, err := decodeEntries(string(encodeEntries(es)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(es) {
		t.Fatalf("got %d entries", len(got))
	}
	for i := range es {
		if got[i].ref != es[i].ref || len(got[i].attrs) != len(es[i].attrs) || len(got[i].kids) != len(es[i].kids) {
			t.Fatalf("entry %d: %+v != %+v", i, got[i], es[i])
		}
		for j := range es[i].kids {
			if got[i].kids[j] != es[i].kids[j] {
				t.Fatalf("entry %d key %d: %x != %x", i, j, got[i].kids[j], es[i].kids[j])
			}
		}
	}
	for _, ref := range []string{es[0].ref, es[1].ref} {
		code, id, err := decodeRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		if encodeRef(code, id) != ref {
			t.Fatalf("ref round trip: %q", id)
		}
	}
}

func FuzzDecodeEntries(f *testing.F) {
	f.Add(encodeEntries([]entry{{ref: encodeRef(3, "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11"), attrs: []codedAttr{{1, "x"}}, kids: []uint64{7}}}))
	f.Add([]byte{valueVersion, 3, 0x81, 1, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeEntries(string(b))
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes to the same entries.
		again, err := decodeEntries(string(encodeEntries(es)))
		if err != nil || len(again) != len(es) {
			t.Fatalf("re-decode: %v (%d vs %d entries)", err, len(again), len(es))
		}
		for i := range es {
			if again[i].ref != es[i].ref || len(again[i].attrs) != len(es[i].attrs) || !slices.Equal(again[i].kids, es[i].kids) {
				t.Fatalf("entry %d changed: %+v vs %+v", i, es[i], again[i])
			}
		}
	})
}
