package redisindex

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
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

// TestEntryEncodingRoundTrip: entries decode to what was encoded, in the current formats (one
// entry, several) and in the first one (valueCoded, still read), including attributes whose
// codes the mask cannot hold (63 and above, or a code repeated) and empty values.
func TestEntryEncodingRoundTrip(t *testing.T) {
	es := []entry{
		{ref: encodeRef(3, "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11"), attrs: []codedAttr{{2, "b"}, {1, ""}, {300, "Ünïcødé"}, {62, "last"}, {63, "extra"}, {2, "again"}}, kids: []uint64{1, kidMask}},
		{ref: encodeRef(127, "raw-id"), kids: nil},
		{ref: encodeRef(1, "x"), attrs: []codedAttr{{9, "nine"}, {1, "one"}}, kids: []uint64{42}},
	}
	norm := func(as []codedAttr) []codedAttr {
		out := slices.Clone(as)
		slices.SortFunc(out, func(a, b codedAttr) int {
			if c := cmp.Compare(a.code, b.code); c != 0 {
				return c
			}
			return strings.Compare(a.value, b.value)
		})
		return out
	}
	check := func(name string, v []byte, want []entry) {
		t.Helper()
		got, err := decodeEntries(string(v))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: got %d entries, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i].ref != want[i].ref || !slices.Equal(norm(got[i].attrs), norm(want[i].attrs)) || !slices.Equal(got[i].kids, want[i].kids) {
				t.Fatalf("%s: entry %d: %+v != %+v", name, i, got[i], want[i])
			}
		}
	}
	check("several", encodeEntries(es), es)
	for i := range es {
		v := encodeEntries(es[i : i+1])
		if v[0] != valueOne {
			t.Fatalf("a lone entry written as version %d", v[0])
		}
		check("one", v, es[i:i+1])
	}
	check("first format", legacyValue(es), es)
	// The current format is the smaller: a contact of eight attributes under ten keys.
	contact := entry{ref: encodeRef(1, "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11"), kids: make([]uint64, 10)}
	for c := range uint64(8) {
		contact.attrs = append(contact.attrs, codedAttr{c + 1, "value"})
	}
	if now, first := len(encodeEntries([]entry{contact})), len(legacyValue([]entry{contact})); now != first-10 {
		t.Errorf("a contact's slot: %d bytes, %d in the first format: want 10 fewer", now, first)
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

// legacyValue encodes entries in the first format (valueCoded), which indexes written before
// the mask kept: uvarint length ‖ body each, a body listing its attribute codes and counting
// its key ids.
func legacyValue(es []entry) []byte {
	b := []byte{valueCoded}
	for _, e := range es {
		body := appendRef(nil, e.ref)
		body = binary.AppendUvarint(body, uint64(len(e.attrs)))
		for _, a := range e.attrs {
			body = binary.AppendUvarint(body, a.code)
			body = binary.AppendUvarint(body, uint64(len(a.value)))
			body = append(body, a.value...)
		}
		body = binary.AppendUvarint(body, uint64(len(e.kids)))
		for _, k := range e.kids {
			var kb [8]byte
			binary.BigEndian.PutUint64(kb[:], k)
			body = append(body, kb[8-kidLen:]...)
		}
		b = binary.AppendUvarint(b, uint64(len(body)))
		b = append(b, body...)
	}
	return b
}

func FuzzDecodeEntries(f *testing.F) {
	f.Add(encodeEntries([]entry{{ref: encodeRef(3, "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11"), attrs: []codedAttr{{1, "x"}}, kids: []uint64{7}}}))
	f.Add([]byte{valueMany, 3, 0x81, 1, 'a'})
	f.Add([]byte{valueCoded, 3, 0x81, 1, 'a'})
	f.Add(legacyValue([]entry{{ref: encodeRef(3, "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11"), attrs: []codedAttr{{1, "x"}, {1, "y"}}, kids: []uint64{7, 9}}}))
	f.Add(encodeEntries([]entry{{ref: encodeRef(3, "a")}, {ref: encodeRef(4, "b"), attrs: []codedAttr{{70, "z"}, {2, "w"}}, kids: []uint64{1}}}))
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

// TestFirstFormatSlotsReadAndRewritten: an index written before the current entry format
// (valueCoded slots) keeps answering, and a record filed again is rewritten in the current,
// smaller format with the same content.
func TestFirstFormatSlotsReadAndRewritten(t *testing.T) {
	addr := redistest.Standalone(t)
	x := newTestIndex(t, []string{addr}, 1<<10)
	ctx := t.Context()
	id := "6d81597f-0d61-4a34-8e5e-7e9b1f7f4c11"
	rec := matcher.Record{Entity: "contact", ID: id, Attrs: map[string]string{"firstname": "Ann", "lastname": "Lee"}}
	keys := []string{"contact|ln|LEE", "contact|fn|ANN"}
	if err := x.Upsert(ctx, rec, keys); err != nil {
		t.Fatal(err)
	}
	st, err := x.ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := redistest.Client(t, addr)
	rid := recordHash(encodeRef(1, id))
	bucket, field := st.recBucket(rid), ridField(rid)
	v, err := c.HGet(ctx, bucket, field).Result()
	if err != nil || v[0] != valueOne {
		t.Fatalf("slot written as %q, %v: want version %d", v[:1], err, valueOne)
	}
	es, err := decodeEntries(v)
	if err != nil {
		t.Fatal(err)
	}
	first := legacyValue(es)
	if err := c.HSet(ctx, bucket, field, first).Err(); err != nil {
		t.Fatal(err)
	}

	for _, k := range keys {
		res, err := x.Lookup(ctx, rules.Lookup{Keys: []string{k}})
		if err != nil || len(res.Records) != 1 || res.Records[0].ID != id {
			t.Fatalf("lookup %s in a first-format slot: %+v, %v", k, res.Records, err)
		}
		if got, _ := res.Records[0].Attr("lastname"); got != "Lee" {
			t.Fatalf("lastname %q from a first-format slot", got)
		}
	}
	if err := x.Upsert(ctx, rec, keys); err != nil {
		t.Fatal(err)
	}
	again, err := c.HGet(ctx, bucket, field).Result()
	if err != nil || again != v {
		t.Fatalf("filed again: slot %x (%v), want it rewritten as %x", again, err, v)
	}
	if len(again) >= len(first) {
		t.Fatalf("current format %d bytes, first %d: not smaller", len(again), len(first))
	}
}
