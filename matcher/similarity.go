package matcher

import edlib "github.com/hbollon/go-edlib"

// fastLen is the longest ASCII string the allocation-free fast paths handle; longer or
// non-ASCII strings go through go-edlib.
const fastLen = 64

// JaroWinkler returns the Jaro-Winkler similarity of a and b in [0,1] (prefix scale 0.1, at most
// 4 prefix characters). Two empty strings are not similar (0).
func JaroWinkler(a, b string) float64 {
	if a == b {
		if a == "" {
			return 0
		}
		return 1
	}
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if len(a) > fastLen || len(b) > fastLen || !isASCII(a) || !isASCII(b) {
		return float64(edlib.JaroWinklerSimilarity(a, b))
	}
	j := jaroASCII(a, b)
	if j <= 0 || j >= 1 {
		return j
	}
	prefix := 0
	for prefix < 4 && prefix < len(a) && prefix < len(b) && a[prefix] == b[prefix] {
		prefix++
	}
	return j + 0.1*float64(prefix)*(1-j)
}

func jaroASCII(a, b string) float64 {
	la, lb := len(a), len(b)
	maxDist := la
	if lb > maxDist {
		maxDist = lb
	}
	maxDist = maxDist/2 - 1
	if maxDist < 0 {
		maxDist = 0
	}
	var ma, mb [fastLen]bool
	matches := 0
	for i := 0; i < la; i++ {
		lo, hi := i-maxDist, i+maxDist+1
		if lo < 0 {
			lo = 0
		}
		if hi > lb {
			hi = lb
		}
		for j := lo; j < hi; j++ {
			if !mb[j] && a[i] == b[j] {
				ma[i], mb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	t, k := 0, 0
	for i := 0; i < la; i++ {
		if !ma[i] {
			continue
		}
		for !mb[k] {
			k++
		}
		if a[i] != b[k] {
			t++
		}
		k++
	}
	m := float64(matches)
	return (m/float64(la) + m/float64(lb) + (m-float64(t)/2)/m) / 3
}

// Levenshtein returns the edit distance (insertions, deletions, substitutions) between a and b,
// counted in runes.
func Levenshtein(a, b string) int {
	if a == b {
		return 0
	}
	if len(a) > fastLen || len(b) > fastLen || !isASCII(a) || !isASCII(b) {
		return edlib.LevenshteinDistance(a, b)
	}
	if len(a) == 0 {
		return len(b)
	}
	if len(b) == 0 {
		return len(a)
	}
	var row [fastLen + 1]int
	for j := 0; j <= len(b); j++ {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		diag := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			up := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := diag + cost
			if up+1 < v {
				v = up + 1
			}
			if row[j-1]+1 < v {
				v = row[j-1] + 1
			}
			row[j] = v
			diag = up
		}
	}
	return row[len(b)]
}

// Damerau returns the optimal-string-alignment Damerau-Levenshtein distance between a and b:
// Levenshtein plus transpositions of adjacent characters, counted in runes.
func Damerau(a, b string) int { return damerauMax(a, b, -1) }

// damerauMax is Damerau that may stop early: once every alignment costs more than max it
// returns a value above max (max < 0: no limit).
func damerauMax(a, b string, max int) int {
	if a == b {
		return 0
	}
	if len(a) > fastLen || len(b) > fastLen || !isASCII(a) || !isASCII(b) {
		return edlib.OSADamerauLevenshteinDistance(a, b)
	}
	return damerauMaxASCII(a, b, max)
}

// damerauMaxASCII is damerauMax for ASCII strings of at most fastLen bytes.
func damerauMaxASCII(a, b string, max int) int {
	if a == b {
		return 0
	}
	if len(a) == 0 {
		return len(b)
	}
	if len(b) == 0 {
		return len(a)
	}
	if max >= 0 {
		if d := len(a) - len(b); d > max || -d > max {
			return max + 1
		}
		if len(a) >= 16 && bagDistance(a, b) > max {
			return max + 1
		}
	}
	return osaBits(a, b)
}

// osaBits is the optimal-string-alignment distance of two non-empty ASCII strings of at most
// 64 bytes, computed a column of the dynamic-programming table at a time in the bits of a word
// (Myers' bit-vector algorithm with Hyyrö's transposition extension: H. Hyyrö, "A bit-vector
// algorithm for computing Levenshtein and Damerau edit distances", Nordic Journal of Computing
// 10, 2003): one pass over b, a few word operations per character. damerauTable is the same
// distance cell by cell; a test holds them equal.
func osaBits(a, b string) int {
	var peq [128]uint64 // peq[c]: the positions of c in a
	for i := 0; i < len(a); i++ {
		peq[a[i]] |= 1 << uint(i)
	}
	m := len(a)
	top := uint64(1) << uint(m-1)
	vp, vn := ^uint64(0), uint64(0)
	if m < 64 {
		vp = top<<1 - 1
	}
	var d0, pmPrev uint64
	dist := m
	for j := 0; j < len(b); j++ {
		pm := peq[b[j]]
		d0 = (((^d0) & pm) << 1) & pmPrev // a transposition of a[i-1..i] with b[j-1..j]
		d0 |= (((pm & vp) + vp) ^ vp) | pm | vn
		hp := vn | ^(d0 | vp)
		hn := d0 & vp
		if hp&top != 0 {
			dist++
		} else if hn&top != 0 {
			dist--
		}
		hp = hp<<1 | 1
		hn <<= 1
		vp = hn | ^(d0 | hp)
		vn = d0 & hp
		pmPrev = pm
	}
	return dist
}

// damerauTable is the distance osaBits computes, by the textbook table (rows of at most
// fastLen+1 cells), stopping once every alignment costs more than max (max < 0: no limit).
func damerauTable(a, b string, max int) int {
	var rows [3][fastLen + 1]int // rows i-2, i-1, i, used in rotation
	prev2, prev, cur := 0, 1, 2
	for j := 0; j <= len(b); j++ {
		rows[prev][j] = j
	}
	for i := 1; i <= len(a); i++ {
		rc, rp, rpp := &rows[cur], &rows[prev], &rows[prev2]
		rc[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := rp[j-1] + cost
			if rp[j]+1 < v {
				v = rp[j] + 1
			}
			if rc[j-1]+1 < v {
				v = rc[j-1] + 1
			}
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] && rpp[j-2]+1 < v {
				v = rpp[j-2] + 1
			}
			rc[j] = v
			if v < rowMin {
				rowMin = v
			}
		}
		// A transposition can lower the next row by one below this row's minimum only via
		// the row before, so stop when two consecutive rows exceed max.
		if max >= 0 && rowMin > max+1 {
			return max + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return rows[prev][len(b)]
}

// withinOneEdit reports whether a and b (byte strings) differ by exactly one substitution,
// insertion, deletion or transposition of adjacent characters: Damerau(a, b) == 1, in O(n).
func withinOneEdit(a, b string) bool {
	if a == b {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	switch len(b) - len(a) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		// substitution at i, or transposition of i and i+1
		if a[i+1:] == b[i+1:] {
			return true
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case 1:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}

// bagDistance is a lower bound of the edit distance of two ASCII strings: the larger of the
// number of characters of a missing from b and of b missing from a, counted as multisets.
// A transposition costs 1 in Damerau and 0 here, so it bounds Damerau too.
func bagDistance(a, b string) int {
	// Counts fit a byte: each string is at most fastLen (64) bytes.
	var counts [128]int8
	for i := 0; i < len(a); i++ {
		counts[a[i]&127]++
	}
	for i := 0; i < len(b); i++ {
		counts[b[i]&127]--
	}
	// Only a's own characters can have a positive count: visit those (each once: its count
	// is cleared) rather than all 128. What b has more of follows: the counts sum to
	// len(a) - len(b).
	pos := 0
	for i := 0; i < len(a); i++ {
		if c := counts[a[i]&127]; c > 0 {
			pos += int(c)
			counts[a[i]&127] = 0
		}
	}
	return max(pos, pos-len(a)+len(b))
}

// editSimilarity turns an edit distance into a similarity: 1 - d / (length of the longer).
func editSimilarity(d int, a, b string) float64 {
	la, lb := runeLen(a), runeLen(b)
	if lb > la {
		la = lb
	}
	if la == 0 {
		return 0
	}
	s := 1 - float64(d)/float64(la)
	if s < 0 {
		return 0
	}
	return s
}

// LevenshteinSimilarity is 1 - Levenshtein(a,b)/max(len): 1 for equal non-empty strings.
func LevenshteinSimilarity(a, b string) float64 {
	if a == "" || b == "" {
		return 0
	}
	return editSimilarity(Levenshtein(a, b), a, b)
}

// DamerauSimilarity is 1 - Damerau(a,b)/max(len).
func DamerauSimilarity(a, b string) float64 {
	if a == "" || b == "" {
		return 0
	}
	return editSimilarity(Damerau(a, b), a, b)
}

// damerauSimilarityAbove is DamerauSimilarity when it is above floor, else some value at or
// below floor (computed faster).
func damerauSimilarityAbove(a, b string, floor float64) float64 {
	if a == "" || b == "" {
		return 0
	}
	if isASCII(a) && isASCII(b) { // the usual case: lengths are byte counts, asked once
		l := max(len(a), len(b))
		limit := int((1-floor)*float64(l) + 1e-9) // at exactly floor: kept (1-0.8 is 0.19999…)
		var d int
		if l <= fastLen {
			d = damerauMaxASCII(a, b, limit)
		} else {
			d = damerauMax(a, b, limit)
		}
		if d > limit {
			return 0
		}
		return max(1-float64(d)/float64(l), 0) // editSimilarity
	}
	l := runeLen(a)
	if lb := runeLen(b); lb > l {
		l = lb
	}
	limit := int((1-floor)*float64(l) + 1e-9) // at exactly floor: kept (1-0.8 is 0.19999…)
	d := damerauMax(a, b, limit)
	if d > limit {
		return 0
	}
	return editSimilarity(d, a, b)
}

func runeLen(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for range s {
		n++
	}
	return n
}
