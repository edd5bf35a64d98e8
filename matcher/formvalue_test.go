package matcher

import (
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
	r := &Rule{id: 77, fields: make([]field, 1)}
	var s CandidateScratch
	for i, v := range vals {
		want := v
		if v.raw == "" && v.norm == "" && !v.ph {
			want = value{} // a value with neither raw nor norm is the zero value
		}
		body := appendValue(nil, &v)
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
