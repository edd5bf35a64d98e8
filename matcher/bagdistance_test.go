package matcher

import (
	"math/rand/v2"
	"testing"
)

// TestBagDistanceBoundsDamerau: the filter in damerauSimilarityAbove may only drop pairs whose
// edit distance is over the limit: bagDistance never exceeds the edit distance, on random
// strings over a small alphabet (many near misses) and on hand-picked ones.
func TestBagDistanceBoundsDamerau(t *testing.T) {
	cases := [][2]string{
		{"", ""}, {"a", ""}, {"ab", "ba"}, {"john.smith@mail.com", "jhon.smith@mail.com"},
		{"abc", "xyz"}, {"aaaa", "a"}, {"smith", "smyth"}, {"abcdef", "badcfe"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var x, y []byte
		for range rng.IntN(12) {
			x = append(x, "abcd.@"[rng.IntN(6)])
		}
		for range rng.IntN(12) {
			y = append(y, "abcd.@"[rng.IntN(6)])
		}
		cases = append(cases, [2]string{string(x), string(y)})
	}
	for _, c := range cases {
		d := damerauMax(c[0], c[1], 1<<20)
		if b := bagDistance(c[0], c[1]); b > d {
			t.Fatalf("bagDistance(%q, %q) = %d > edit distance %d", c[0], c[1], b, d)
		}
	}
	if b := bagDistance("abc", "xyz"); b != 3 {
		t.Fatalf("bagDistance(abc, xyz) = %d, want 3", b)
	}
}
