package matcher

import (
	"math/rand/v2"
	"strings"
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
		b := bagDistance(c[0], c[1])
		if b > d {
			t.Fatalf("bagDistance(%q, %q) = %d > edit distance %d", c[0], c[1], b, d)
		}
	}
	if b := bagDistance("abc", "xyz"); b != 3 {
		t.Fatalf("bagDistance(abc, xyz) = %d, want 3", b)
	}
}

// TestOSABitsMatchesTable: the bit-parallel distance equals the table's on random strings over
// small alphabets (many transpositions and near misses), at every length up to 64 and on
// hand-picked pairs.
func TestOSABitsMatchesTable(t *testing.T) {
	cases := [][2]string{
		{"a", "a"}, {"a", "b"}, {"ab", "ba"}, {"abc", "ca"}, {"ca", "abc"}, {"john", "jhon"},
		{"john.smith@mail.com", "jhon.smith@mial.com"}, {"kitten", "sitting"},
		{strings.Repeat("ab", 32), strings.Repeat("ba", 32)}, {strings.Repeat("a", 64), "a"},
		{strings.Repeat("x", 63) + "y", strings.Repeat("x", 64)},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		alpha := "abc.@"[:2+rng.IntN(4)]
		gen := func() string {
			b := make([]byte, 1+rng.IntN(64))
			for i := range b {
				b[i] = alpha[rng.IntN(len(alpha))]
			}
			return string(b)
		}
		x := gen()
		y := x
		if rng.IntN(3) > 0 { // a few edits of x: the distances that matter
			yb := []byte(x)
			for range 1 + rng.IntN(4) {
				i := rng.IntN(len(yb))
				switch rng.IntN(4) {
				case 0:
					yb[i] = alpha[rng.IntN(len(alpha))]
				case 1:
					if i+1 < len(yb) {
						yb[i], yb[i+1] = yb[i+1], yb[i]
					}
				case 2:
					if len(yb) > 1 {
						yb = append(yb[:i], yb[i+1:]...)
					}
				case 3:
					if len(yb) < 64 {
						yb = append(yb[:i], append([]byte{alpha[rng.IntN(len(alpha))]}, yb[i:]...)...)
					}
				}
			}
			y = string(yb)
		} else {
			y = gen()
		}
		cases = append(cases, [2]string{x, y})
	}
	for _, c := range cases {
		if got, want := osaBits(c[0], c[1]), damerauTable(c[0], c[1], -1); got != want {
			t.Fatalf("osaBits(%q, %q) = %d, table %d", c[0], c[1], got, want)
		}
	}
}

// bagDistanceAll is bagDistance summed over the whole alphabet, as first written.
func bagDistanceAll(a, b string) int {
	var counts [128]int
	for i := 0; i < len(a); i++ {
		counts[a[i]]++
	}
	for i := 0; i < len(b); i++ {
		counts[b[i]]--
	}
	pos, neg := 0, 0
	for _, c := range counts {
		if c > 0 {
			pos += c
		} else {
			neg -= c
		}
	}
	return max(pos, neg)
}

// TestBagDistanceVisitsOnlyItsCharacters: counting over the strings' own characters gives the
// whole alphabet's count.
func TestBagDistanceVisitsOnlyItsCharacters(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		var x, y []byte
		for range rng.IntN(40) {
			x = append(x, byte(rng.IntN(128)))
		}
		for range rng.IntN(40) {
			y = append(y, "abcde.@"[rng.IntN(7)])
		}
		if got, want := bagDistance(string(x), string(y)), bagDistanceAll(string(x), string(y)); got != want {
			t.Fatalf("bagDistance(%q, %q) = %d, want %d", x, y, got, want)
		}
	}
}

// BenchmarkEmailDistance compares e-mail addresses of different people, as scoring a name
// block's candidates does: most are rejected by the bag distance bound.
//
//	go test ./matcher -run '^$' -bench EmailDistance
func BenchmarkEmailDistance(b *testing.B) {
	emails := []string{"mary.bercalber123456@mail7.net", "mary.bercaldan654321@mail22.net",
		"mary.berfelgor111@mail3.net", "marie.bercalber99@mail40.net", "m.bercalber@example.com"}
	for b.Loop() {
		for i := range emails {
			for j := range emails {
				if i != j {
					damerauSimilarityAbove(emails[i], emails[j], 0.7)
				}
			}
		}
	}
}
