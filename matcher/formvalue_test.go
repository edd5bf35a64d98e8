package matcher

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestValueFormRoundTrip: every value decodes from its form entry exactly as it was prepared,
// whichever parts repeat others or are empty (the entry's flags), and the entry is smaller
// than the parts written out one by one.
func TestValueFormRoundTrip(t *testing.T) {
	parts := []string{"", "lisa", "Lisa", "kings", "LS"}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func() string { return parts[rng.IntN(len(parts))] }
	vals := []value{
		{},
		{ph: true},
		{raw: "Lisa", norm: "lisa", alt: "lisa", toks: []string{"lisa"}, ph1: "LS", ph2: "LS", groups: []int32{31}},
		{raw: "32 Kings Road", norm: "32 kings rd", alt: "kings", toks: []string{"kings"}, num: "32"},
		{raw: "1959-04-27", norm: "19590427", days: 714_000, ymd: [3]int16{1959, 4, 27}},
		{raw: "x", norm: "x", toks: []string{"a", "b", "c"}, ph1: "A", ph2: "B", groups: []int32{-1, 7}, unit: "2"},
	}
	for range 5000 {
		v := value{raw: pick(), norm: pick(), alt: pick(), ph1: pick(), ph2: pick(), num: pick(), unit: pick(), ph: rng.IntN(4) == 0}
		for range rng.IntN(3) {
			v.toks = append(v.toks, pick())
		}
		for range rng.IntN(3) {
			v.groups = append(v.groups, int32(rng.IntN(5)-1))
		}
		if rng.IntN(2) == 0 {
			v.days, v.ymd = int32(rng.IntN(800_000)), [3]int16{int16(rng.IntN(3000)), 1, 2}
		}
		vals = append(vals, v)
	}
	r := &Rule{id: 77, fields: make([]field, 1), order: []int{0}}
	var s CandidateScratch
	for i, v := range vals {
		want := v
		if v.raw == "" && v.norm == "" && !v.ph {
			want = value{} // a value with neither raw nor norm is the zero value
		}
		body := []byte{0} // a section body: the mask of the values it holds, then those
		if !v.zero() {
			body = appendValue([]byte{1}, &v)
		}
		if err := r.decodeInto(&s, Record{}, string(body)); err != nil {
			t.Fatalf("value %d %+v: %v", i, v, err)
		}
		got := s.p.vals[0]
		if len(got.toks) == 0 && len(want.toks) == 0 {
			got.toks, want.toks = nil, nil
		}
		if len(got.groups) == 0 && len(want.groups) == 0 {
			got.groups, want.groups = nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("value %d: decoded\n%+v\nwant\n%+v", i, got, want)
		}
	}
	name := vals[2]
	if n := len(appendValue(nil, &name)); n > 17 {
		t.Errorf("a first name's entry is %d bytes, want ≤ 17 (33 with every part written out)", n)
	}
}

// TestFormDecodedAsFarAsCompared: a candidate decoded from its form decodes the values
// ScoreAbove compares and no more when it is given up early, and in full when asked
// (complete), equal to the candidate prepared from its attributes.
func TestFormDecodedAsFarAsCompared(t *testing.T) {
	r := benchRule(t, -1)
	a := r.Prepare(benchChecked)
	var s CandidateScratch
	partial := 0
	for _, c := range benchCandidates(50) {
		_, form := r.IndexEntry(c, nil)
		c.Form = string(form)
		p := r.PrepareCandidateWith(&s, c)
		if p.scratch == nil {
			t.Fatalf("candidate %s: not decoded from its form", c.ID)
		}
		if _, ok := r.ScoreAbove(a, p, 0.8); !ok && p.formAt < len(r.order) {
			partial++
		}
		want := r.Explain(a, r.PrepareCandidate(c))
		if got := r.Explain(a, p); !reflect.DeepEqual(got, want) {
			t.Fatalf("candidate %s: from the form %+v, prepared %+v", c.ID, got, want)
		}
		if p.pending != 0 || p.formBad {
			t.Fatalf("candidate %s: pending %b, bad %v after Explain", c.ID, p.pending, p.formBad)
		}
	}
	if partial == 0 {
		t.Fatal("every candidate given up was decoded in full")
	}
}

// TestFormValueDamagedFallsBack: a section whose checksum holds but whose second value does
// not decode (no AppendForm writes one) gives the candidate its first value from the form and
// the rest from its attributes: it explains as prepared.
func TestFormValueDamagedFallsBack(t *testing.T) {
	r := benchRule(t, -1)
	a := r.Prepare(benchChecked)
	c := benchCandidates(3)[1]
	p := r.prepare(c, true)
	var mask uint64
	for i := range p.vals {
		if !p.vals[i].zero() {
			mask |= 1 << i
		}
	}
	first := r.order[0]
	if mask&(1<<first) == 0 {
		t.Fatal("the first field compared has no value: pick another candidate")
	}
	body := binary.AppendUvarint(nil, mask)
	body = appendValue(body, &p.vals[first])
	body = append(body, 0x02, 0x00, 0x00) // flags without vfPresent
	form := binary.AppendUvarint(nil, r.id)
	form = binary.AppendUvarint(form, uint64(len(body)))
	form = append(form, body...)
	form = binary.LittleEndian.AppendUint32(form, crc32.Checksum(body, castagnoli))
	c.Form = string(form)
	var s CandidateScratch
	got := r.PrepareCandidateWith(&s, c)
	if got.scratch == nil {
		t.Fatal("the section was not read")
	}
	want := r.Explain(a, r.PrepareCandidate(c))
	if e := r.Explain(a, got); !reflect.DeepEqual(e, want) {
		t.Fatalf("damaged form: %+v, want %+v", e, want)
	}
	if !got.formBad {
		t.Fatal("the damaged value was not noticed")
	}
	if err := r.decodeInto(&s, c, string(body)); err == nil {
		t.Fatal("decodeInto accepted the damaged body")
	}
}
