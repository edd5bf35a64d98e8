package matcher

import (
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// referenceKey is how keys were made before makeKey: the index holds keys made this way, so
// makeKey must give the very same strings.
func referenceKey(table, label string, vals []string) string {
	h := fnv.New64a()
	h.Write([]byte(label))
	for _, v := range vals {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	return table + "|" + label + "|" + base64.RawURLEncoding.EncodeToString(b[:])
}

func TestMakeKeyMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	word := func(n int) string {
		var b strings.Builder
		for range r.IntN(n) {
			b.WriteByte(byte(r.IntN(256)))
		}
		return b.String()
	}
	cases := [][]string{{"contact", "em1~l", "jane.doe"}, {"contact", "fn~p+ln~p", "JN", "T"}, {"lead", "", ""}, {"account", "nm", ""}}
	for range 2000 {
		c := []string{word(12), word(20)}
		for range r.IntN(4) {
			c = append(c, word(30))
		}
		cases = append(cases, c)
	}
	cases = append(cases, []string{strings.Repeat("t", 100), strings.Repeat("l", 100), "v"}) // past makeKey's buffer
	for _, c := range cases {
		got, want := makeKey(c[0], c[1], c[2:]), referenceKey(c[0], c[1], c[2:])
		if got != want {
			t.Fatalf("makeKey(%q, %q, %q) = %q, want %q", c[0], c[1], c[2:], got, want)
		}
	}
}

// keysRule is a contact rule with the shipped contact rule's fifteen blocking keys.
func keysRule(b testing.TB) *Rule {
	b.Helper()
	r := benchRule(b, 0)
	spec := r.Spec()
	p := func(attr, tr string) KeyPart { return KeyPart{Attr: attr, Transform: tr} }
	spec.Keys = []KeySpec{
		{Parts: []KeyPart{p("emailaddress1", "local")}},
		{Parts: []KeyPart{p("telephone1", "digits")}},
		{Parts: []KeyPart{p("governmentid", "")}},
		{Name: "nm", Unordered: true, Parts: []KeyPart{p("firstname", "phonetic"), p("lastname", "phonetic")}, MaxBlock: 12},
		{Parts: []KeyPart{p("birthdate", "")}, MaxBlock: 10},
		{Name: "nmy", Parts: []KeyPart{p("lastname", "phonetic"), p("firstname", "initial"), p("birthdate", "year")}, MaxBlock: 12},
		{Name: "nmy", Parts: []KeyPart{p("firstname", "phonetic"), p("lastname", "initial"), p("birthdate", "year")}, MaxBlock: 12},
		{Parts: []KeyPart{p("lastname", "phonetic"), p("birthdate", "year")}, MaxBlock: 10},
		{Parts: []KeyPart{p("firstname", "phonetic"), p("birthdate", "year")}, MaxBlock: 10},
		{Parts: []KeyPart{p("lastname", "phonetic"), p("address1_city", "")}, MaxBlock: 10},
		{Name: "nmc", Parts: []KeyPart{p("lastname", "phonetic"), p("firstname", "initial"), p("address1_city", "")}, MaxBlock: 12},
		{Name: "nmc", Parts: []KeyPart{p("firstname", "phonetic"), p("lastname", "initial"), p("address1_city", "")}, MaxBlock: 12},
		{Parts: []KeyPart{p("lastname", "phonetic"), p("address1_postalcode", "")}},
		{Parts: []KeyPart{p("address1_line1", ""), p("address1_postalcode", "")}},
	}
	kr, err := Compile(spec, nil)
	if err != nil {
		b.Fatal(err)
	}
	return kr
}

// BenchmarkBlockingKeys computes the keys of one prepared contact under the shipped contact
// rule's keys (a check computes them once per rule; filing a record, once).
//
//	go test ./matcher -run '^$' -bench BlockingKeys
func BenchmarkBlockingKeys(b *testing.B) {
	r := keysRule(b)
	p := r.Prepare(benchChecked)
	if n := len(r.BlockingKeys(p)); n < 12 {
		b.Fatalf("%d keys", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.BlockingKeys(p)
	}
}

// TestBlockingKeysMatchReference builds each record's keys the way they were built before
// (each part's value, then referenceKey) and compares them with BlockingKeys.
func TestBlockingKeysMatchReference(t *testing.T) {
	r := keysRule(t)
	recs := append(benchCandidates(40), benchChecked,
		Record{Entity: "contact", Attrs: map[string]string{"firstname": "Ann", "lastname": "Lee"}},
		Record{Entity: "contact", Attrs: map[string]string{}})
	for i, rec := range recs {
		p := r.Prepare(rec)
		var want []string
	outer:
		for _, k := range r.keys {
			var vs []string
			for _, part := range k.parts {
				v := keyValue(r.lex, &r.fields[part.field], &p.vals[part.field], part.transform)
				if v == "" {
					continue outer
				}
				vs = append(vs, v)
			}
			if k.unordered {
				slices.Sort(vs)
			}
			if key := referenceKey(r.spec.CandidateEntity, k.label, vs); !slices.Contains(want, key) {
				want = append(want, key)
			}
		}
		if r.KeyMaxBlocks(p) != nil {
			t.Fatalf("record %d: maxima before BlockingKeys", i)
		}
		got := r.BlockingKeys(p)
		if !slices.Equal(got, want) {
			t.Fatalf("record %d: BlockingKeys = %q, want %q", i, got, want)
		}
		checkKeyMaxBlocks(t, r, p)
	}
	// Keys sharing a name with different maxima: the last one's, as KeyMaxBlock says.
	shared, err := Compile(RuleSpec{Name: "s", Entity: "contact", Fields: []FieldSpec{
		{Attr: "firstname", Comparator: "firstname"}, {Attr: "lastname", Comparator: "lastname"}},
		Keys: []KeySpec{
			{Name: "n", Parts: []KeyPart{{Attr: "firstname"}}, MaxBlock: 5},
			{Name: "n", Parts: []KeyPart{{Attr: "lastname"}}, MaxBlock: 9},
			{Parts: []KeyPart{{Attr: "lastname", Transform: "phonetic"}}},
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := shared.Prepare(Record{Entity: "contact", Attrs: map[string]string{"firstname": "Ann", "lastname": "Lee"}})
	shared.BlockingKeys(p)
	if m := shared.KeyMaxBlocks(p); !slices.Equal(m, []int32{9, 9, 0}) {
		t.Fatalf("maxima of keys sharing a name = %v, want [9 9 0]", m)
	}
	checkKeyMaxBlocks(t, shared, p)
}

// checkKeyMaxBlocks holds KeyMaxBlocks to KeyMaxBlock key by key.
func checkKeyMaxBlocks(t *testing.T, r *Rule, p *Prepared) {
	t.Helper()
	keys, maxima := r.BlockingKeys(p), r.KeyMaxBlocks(p)
	if len(maxima) != len(keys) {
		t.Fatalf("%d maxima for %d keys", len(maxima), len(keys))
	}
	for j, k := range keys {
		if int(maxima[j]) != r.KeyMaxBlock(k) {
			t.Fatalf("key %q: KeyMaxBlocks says %d, KeyMaxBlock %d", k, maxima[j], r.KeyMaxBlock(k))
		}
	}
}

// TestRecycle: a Prepared given back is reused by the next preparation with none of its old
// values, and the keys it handed out stay as they were.
func TestRecycle(t *testing.T) {
	r := keysRule(t)
	recs := benchCandidates(6)
	for i := 0; i+1 < len(recs); i++ {
		p := r.prepare(recs[i], true)
		keys := slices.Clone(r.BlockingKeys(p))
		held := r.BlockingKeys(p)
		r.Recycle(p)
		q := r.prepare(recs[i+1], true) // most likely p again
		fresh := &Prepared{}
		r.prepareInto(fresh, recs[i+1], true)
		if !reflect.DeepEqual(q.vals, fresh.vals) || !slices.Equal(r.BlockingKeys(q), r.BlockingKeys(fresh)) {
			t.Fatalf("record %d prepared in recycled storage differs from a fresh one", i+1)
		}
		if !slices.Equal(held, keys) {
			t.Fatalf("record %d: keys changed after Recycle: %q, were %q", i, held, keys)
		}
		r.Recycle(q)
	}
	r.Recycle(&Prepared{}) // not this rule's: ignored
}
