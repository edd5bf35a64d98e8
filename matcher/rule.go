package matcher

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxFields caps the fields of one rule (Score keeps per-field state on the stack).
const MaxFields = 32

// Rule is a compiled RuleSpec, safe for concurrent use.
type Rule struct {
	spec     RuleSpec
	lex      *Lexicon
	fields   []field
	keys     []compiledKey
	evidence bool
	region   string
	cache    *candidateCache
	id       uint64 // process-unique, tags the rule's sections of forms
	// need is the points a score must reach for the last minimum ScoreAbove was asked for
	// (a check asks the same one for every candidate: no logarithm per candidate).
	need atomic.Pointer[needFor]
	// recycled holds Prepared values given back (Recycle).
	recycled sync.Pool
	// symmetric: the rule reads the same attributes of the checked record and of a candidate
	// of the same table, so a record's form serves either side.
	symmetric bool
	// first and last are the indexes of the firstname and lastname fields for the swapped-name
	// check, or -1.
	first, last int
	// order is the order ScoreAbove compares fields in: the cheap comparisons (equality,
	// dates, phones) first, then the costly ones by falling weight, the two names last; the
	// first cheap entries of order are the cheap fields.
	order []int
	cheap int
	// byCandAttr is the field indexes in the order of their candidate attributes' names (the
	// order of packed attributes), for reading a packed candidate in one pass.
	byCandAttr []int
}

// field is a compiled FieldSpec.
type field struct {
	spec     FieldSpec
	kind     kind
	candAttr string
	label    string
	weight   float64
	penalty  float64
	floor    float64
	ph       *placeholderSet
}

type compiledKey struct {
	label     string
	parts     []compiledPart
	unordered bool
	maxBlock  int
	labelMax  int // KeyMaxBlock of the key's label: the maxBlock of the last key sharing it
}

type compiledPart struct {
	field     int
	transform string
}

// SpecError is one problem in a RuleSpec. Path locates it inside the spec in the rules file's
// terms ("fields[2].comparator", "blocking[0][1]").
type SpecError struct {
	Path string
	Msg  string
}

func (e *SpecError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// SpecErrors is every problem Compile found in one spec.
type SpecErrors []*SpecError

func (es SpecErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// keyTransforms are the transforms a KeyPart may name, with the comparators they apply to
// (nil: any).
var keyTransforms = map[string][]kind{
	"value":    nil,
	"phonetic": {kFirstName, kLastName, kPersonName, kCompany, kNormalized, kJaroWinkler, kLevenshtein, kDamerau},
	"initial":  nil,
	"year":     {kDate},
	"nickname": {kFirstName},
	"digits":   {kPhone},
	"local":    {kEmail},
	"token":    nil,
}

// KeyTransforms returns the transform names a KeyPart accepts.
func KeyTransforms() []string { return sortedKeys(keyTransforms) }

// Compile checks a spec and prepares it for scoring. lex may be nil (the built-in lexicon).
// Every problem is reported, as SpecErrors.
func Compile(spec RuleSpec, lex *Lexicon) (*Rule, error) {
	var errs SpecErrors
	bad := func(path, format string, args ...any) {
		errs = append(errs, &SpecError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if spec.Name == "" {
		bad("name", "rule has no name")
	}
	if spec.CandidateEntity == "" {
		spec.CandidateEntity = spec.Entity
	}
	switch spec.Scoring {
	case "":
		spec.Scoring = ScoringWeighted
	case ScoringWeighted, ScoringEvidence:
	default:
		bad("scoring", "unknown scoring %q (want %s or %s)", spec.Scoring, ScoringWeighted, ScoringEvidence)
	}
	if len(spec.Fields) == 0 {
		bad("fields", "rule compares no fields")
	}
	if len(spec.Fields) > MaxFields {
		bad("fields", "rule has %d fields, at most %d are allowed", len(spec.Fields), MaxFields)
	}
	lex = lex.orBuiltin()
	r := &Rule{lex: lex, evidence: spec.Scoring == ScoringEvidence, first: -1, last: -1}
	if spec.DefaultRegion != "" {
		reg := strings.ToUpper(strings.TrimSpace(spec.DefaultRegion))
		if !validRegion(reg) {
			bad("default_region", "%q is not an ISO 3166 region with a phone numbering plan", spec.DefaultRegion)
		}
		spec.DefaultRegion = reg
		r.region = reg
	} else {
		r.region = lex.DefaultRegion()
	}
	base := newPlaceholderSet(spec.Placeholders, r.region)
	byAttr := map[string]int{}
	for i, fs := range spec.Fields {
		p := fmt.Sprintf("fields[%d]", i)
		k, ok := parseComparator(fs.Comparator)
		if !ok {
			if fs.Comparator == "" {
				bad(p+".comparator", "missing comparator (one of %s)", strings.Join(Comparators(), ", "))
			} else {
				bad(p+".comparator", "unknown comparator %q (one of %s)", fs.Comparator, strings.Join(Comparators(), ", "))
			}
		}
		if fs.Attr == "" {
			bad(p+".attr", "missing attribute name")
		} else if j, dup := byAttr[fs.Attr]; dup {
			bad(p+".attr", "attribute %q is already compared by fields[%d]", fs.Attr, j)
		} else {
			byAttr[fs.Attr] = i
		}
		if fs.Weight < 0 || math.IsNaN(fs.Weight) || math.IsInf(fs.Weight, 0) {
			bad(p+".weight", "must be a non-negative number")
		}
		if fs.Penalty < 0 || math.IsNaN(fs.Penalty) || math.IsInf(fs.Penalty, 0) {
			bad(p+".penalty", "must be a non-negative number (the points a disagreement subtracts)")
		}
		if fs.Floor < 0 || fs.Floor >= 1 || math.IsNaN(fs.Floor) {
			bad(p+".floor", "must be in [0,1)")
		}
		if fs.MinSimilarity < 0 || fs.MinSimilarity > 1 || math.IsNaN(fs.MinSimilarity) {
			bad(p+".min_similarity", "must be in [0,1]")
		}
		if fs.ProviderRules && k != kEmail {
			bad(p+".provider_rules", "only applies to the email comparator")
		}
		f := field{spec: fs, kind: k, candAttr: fs.CandidateAttr, label: fs.Label}
		if f.candAttr == "" {
			f.candAttr = fs.Attr
		}
		if f.label == "" {
			f.label = attrLabel(fs.Attr)
		}
		info := comparators[k]
		f.floor = fs.Floor
		if f.floor == 0 {
			f.floor = info.floor
		}
		f.weight = fs.Weight
		f.penalty = fs.Penalty
		if f.weight == 0 {
			if r.evidence {
				f.weight = info.weight
			} else {
				f.weight = 1
			}
		}
		f.ph = base.withField(fs.Placeholders, k, r.region)
		r.fields = append(r.fields, f)
		switch k {
		case kFirstName:
			if r.first == -1 {
				r.first = i
			} else {
				r.first = -2
			}
		case kLastName:
			if r.last == -1 {
				r.last = i
			} else {
				r.last = -2
			}
		}
	}
	if r.first < 0 || r.last < 0 || spec.NoNameSwap {
		r.first, r.last = -1, -1
	}
	r.order, r.cheap = compareOrder(r.fields, r.first, r.last)
	r.byCandAttr = make([]int, len(r.fields))
	for i := range r.byCandAttr {
		r.byCandAttr[i] = i
	}
	sort.SliceStable(r.byCandAttr, func(x, y int) bool {
		return r.fields[r.byCandAttr[x]].candAttr < r.fields[r.byCandAttr[y]].candAttr
	})
	if spec.Scoring == ScoringEvidence && (math.IsNaN(spec.Prior) || math.IsInf(spec.Prior, 0)) {
		bad("prior", "must be a number")
	}
	if spec.ExplainMin < 0 || spec.ExplainMin > 1 {
		bad("explain_min", "must be in [0,1]")
	}
	// Keys: the composite ones, then one per Blocking field.
	for i, ks := range spec.Keys {
		p := fmt.Sprintf("blocking[%d]", i)
		if len(ks.Parts) == 0 {
			bad(p, "key has no parts")
			continue
		}
		ck := compiledKey{}
		ok := true
		for j, kp := range ks.Parts {
			pp := fmt.Sprintf("%s[%d]", p, j)
			fi, found := byAttr[kp.Attr]
			if !found {
				bad(pp, "attribute %q is not one of the rule's fields", kp.Attr)
				ok = false
				continue
			}
			tr := kp.Transform
			if tr == "" {
				tr = "value"
			}
			kinds, known := keyTransforms[tr]
			if !known {
				bad(pp, "unknown transform %q (one of %s)", kp.Transform, strings.Join(KeyTransforms(), ", "))
				ok = false
				continue
			}
			if kinds != nil && fi < len(r.fields) && !hasKind(kinds, r.fields[fi].kind) {
				bad(pp, "transform %q does not apply to the %s comparator", tr, comparators[r.fields[fi].kind].name)
				ok = false
				continue
			}
			ck.parts = append(ck.parts, compiledPart{field: fi, transform: tr})
		}
		if !ok {
			continue
		}
		ck.label = ks.Name
		if ck.label == "" {
			ck.label = r.keyLabel(ck.parts)
			if ks.Unordered {
				ck.label += "~u"
			}
		}
		ck.unordered = ks.Unordered
		if ks.MaxBlock < 0 {
			bad(p, "max_block must not be negative")
		}
		ck.maxBlock = ks.MaxBlock
		r.keys = append(r.keys, ck)
	}
	for i, f := range r.fields {
		if f.spec.Blocking {
			parts := []compiledPart{{field: i, transform: "value"}}
			r.keys = append(r.keys, compiledKey{label: r.keyLabel(parts), parts: parts})
		}
	}
	for i := range r.keys {
		for _, k := range r.keys {
			if k.label == r.keys[i].label {
				r.keys[i].labelMax = k.maxBlock
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	size := spec.CandidateCache
	if size == 0 {
		size = DefaultCandidateCache
	}
	r.cache = newCandidateCache(size)
	r.symmetric = spec.Entity == spec.CandidateEntity
	for _, f := range r.fields {
		if f.candAttr != f.spec.Attr {
			r.symmetric = false
		}
	}
	r.spec = spec
	r.id = ruleIDs.Add(1)
	return r, nil
}

func hasKind(ks []kind, k kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// Spec returns the spec the rule was compiled from, with defaults applied.
func (r *Rule) Spec() RuleSpec { return r.spec }

// Prepared is a record normalised once for one rule, reused across all comparisons of a check.
type Prepared struct {
	Record Record
	vals   []value
	// A candidate prepared lazily (PrepareCandidateWith without a form): the fields whose
	// values are not prepared yet (bit i for field i; their attribute is present), their raw
	// values, and the phone region once known. Every reader of vals calls complete or ensure.
	pending  uint32
	raws     []string
	region   string
	regionOK bool
	// A candidate decoded from its form as far as it is read (decodeLazy): the body not
	// decoded yet, the position in Rule.order reached, and the scratch holding its tokens
	// and groups; formBad once the form failed and the rest comes from the attributes.
	form    string
	formAt  int
	formBad bool
	scratch *CandidateScratch
	// The blocking keys, once BlockingKeys has computed them (keysOf: the rule's id), and
	// the first keys' maxima (KeyMaxBlocks).
	keys   []string
	keysOf uint64
	keyMax [24]int32
}

// prepareLazy sets p up as rec's candidate with no value prepared yet: ScoreAbove prepares
// only the fields it compares, so that a candidate it gives up on early costs only those.
func (r *Rule) prepareLazy(p *Prepared, rec Record) {
	n := len(r.fields)
	if cap(p.vals) < n {
		p.vals = make([]value, n)
	}
	p.vals = p.vals[:n]
	clear(p.vals)
	if cap(p.raws) < n {
		p.raws = make([]string, n)
	}
	p.raws = p.raws[:n]
	p.Record, p.pending, p.region, p.regionOK = rec, 0, "", false
	p.keys, p.keysOf = nil, 0
	p.form, p.formAt, p.formBad, p.scratch = "", 0, false, nil
	clear(p.raws)
	if rec.Attrs == nil && rec.Packed != "" {
		// One pass over the packed attributes (in name order) against the fields in the order
		// of their attributes' names, instead of a scan of the packed string per field.
		t, k := rec.Packed, 0
		for len(t) > 0 && k < len(r.byCandAttr) {
			name, ok1 := nextPacked(&t)
			value, ok2 := nextPacked(&t)
			if !ok1 || !ok2 {
				break // damaged: the attributes before the damage, as Record.Attr reads them
			}
			for k < len(r.byCandAttr) && r.fields[r.byCandAttr[k]].candAttr < name {
				k++
			}
			for j := k; j < len(r.byCandAttr) && r.fields[r.byCandAttr[j]].candAttr == name; j++ {
				i := r.byCandAttr[j]
				if p.pending&(1<<i) == 0 { // the first of two equal names, as Record.Attr
					p.raws[i] = value
					p.pending |= 1 << i
				}
			}
		}
		return
	}
	for i := range r.fields {
		raw, ok := rec.Attr(r.fields[i].candAttr)
		p.raws[i] = raw
		if ok {
			p.pending |= 1 << i
		}
	}
}

// ensure prepares field i of a lazily prepared candidate if it is not yet: exactly the value
// prepareInto gives it.
func (r *Rule) ensure(p *Prepared, i int) {
	if p.pending&(1<<i) == 0 {
		return
	}
	if p.scratch != nil {
		if r.decodeNext(p, i); p.pending&(1<<i) == 0 {
			return
		}
	}
	p.pending &^= 1 << i
	if !p.regionOK && r.fields[i].kind == kPhone { // only phones read the region
		p.region, p.regionOK = r.recordRegion(p.Record), true
	}
	p.vals[i] = r.fields[i].prepareValue(r.lex, p.raws[i], p.region)
}

// complete prepares every field of p still pending.
func (r *Rule) complete(p *Prepared) {
	for p.pending != 0 {
		r.ensure(p, bits.TrailingZeros32(p.pending))
	}
}

// Prepare normalises the record being checked (its attributes are read by FieldSpec.Attr).
func (r *Rule) Prepare(rec Record) *Prepared { return r.prepare(rec, false) }

// PrepareCandidate normalises a candidate (attributes read by FieldSpec.CandidateAttr). A
// candidate with an id is kept in the rule's cache and reused while the values the rule reads
// are unchanged. The result must be treated as read-only.
func (r *Rule) PrepareCandidate(rec Record) *Prepared {
	if r.cache == nil || rec.ID == "" {
		return r.prepare(rec, true)
	}
	key := rec.Entity + "/" + rec.ID
	fp := r.cache.fingerprint(r, rec)
	if p := r.cache.get(key, fp); p != nil {
		return p
	}
	p := r.prepare(rec, true)
	r.cache.put(key, fp, p)
	return p
}

func (r *Rule) prepare(rec Record, cand bool) *Prepared {
	p, _ := r.recycled.Get().(*Prepared)
	if p == nil {
		p = &Prepared{}
	}
	r.prepareInto(p, rec, cand)
	return p
}

// Recycle gives back p, which Prepare or IndexEntryPrepared returned and which its caller
// no longer reads: a later preparation reuses its storage (a scan prepares every row and
// every record it loads once). Strings of p, its keys (BlockingKeys) included, stay valid;
// its values do not.
func (r *Rule) Recycle(p *Prepared) {
	if p == nil || len(p.vals) != len(r.fields) {
		return
	}
	vals := p.vals // cleared when reused (prepareInto)
	*p = Prepared{vals: vals}
	r.recycled.Put(p)
}

// prepareInto is prepare into p, reusing its storage.
func (r *Rule) prepareInto(p *Prepared, rec Record, cand bool) {
	if cap(p.vals) < len(r.fields) {
		p.vals = make([]value, len(r.fields))
	}
	p.vals = p.vals[:len(r.fields)]
	clear(p.vals)
	p.Record = rec
	p.keys, p.keysOf = nil, 0
	region := r.region
	if r.spec.CountryAttr != "" {
		if c, _ := rec.Attr(r.spec.CountryAttr); c != "" {
			if reg := regionFor(c); reg != "" {
				region = reg
			}
		}
	}
	for i := range r.fields {
		f := &r.fields[i]
		a := f.spec.Attr
		if cand {
			a = f.candAttr
		}
		if raw, ok := rec.Attr(a); ok {
			p.vals[i] = f.prepareValue(r.lex, raw, region)
		}
	}
}

// Score compares the checked record a with candidate b. Both must come from this rule's
// Prepare/PrepareCandidate. Fields and Reasons are filled when the score reaches the spec's
// ExplainMin.
func (r *Rule) Score(a, b *Prepared) Result { return r.score(a, b, false, 0) }

// Explain is Score with Fields and Reasons always filled.
func (r *Rule) Explain(a, b *Prepared) Result { return r.score(a, b, true, 0) }

// ScoreAbove is Score for a caller that keeps only the pairs scoring at least min (the engine:
// a candidate below the warn threshold is dropped): ok is false, and the result empty, for a
// pair that cannot reach min. An evidence rule compares the cheap fields first and then the
// costly ones (names, e-mail addresses, addresses) one by one, and stops as soon as even full
// agreement on every field left could not bring the score to min, so that most unrelated
// candidates of a block never reach the name comparisons. A pair that can reach min gets
// exactly Score's result.
func (r *Rule) ScoreAbove(a, b *Prepared, min float64) (Result, bool) {
	res := r.score(a, b, false, min)
	if min > 0 && (res.Score < min || res.Score <= 0) {
		return Result{}, false
	}
	return res, true
}

// compareOrder returns the order in which ScoreAbove compares fields and how many cheap ones
// lead it (see Rule.order).
func compareOrder(fields []field, first, last int) ([]int, int) {
	var cheap, costly []int
	for i := range fields {
		switch fields[i].kind {
		case kExact, kNormalized, kPostcode, kIdentifier, kWebsite, kPhone, kDate:
			cheap = append(cheap, i)
		default:
			costly = append(costly, i)
		}
	}
	rank := func(i int) int {
		if i == first || i == last {
			return 1 // the names last: the swapped-name check reads both
		}
		return 0
	}
	sort.SliceStable(costly, func(x, y int) bool {
		if rx, ry := rank(costly[x]), rank(costly[y]); rx != ry {
			return rx < ry
		}
		return fields[costly[x]].weight > fields[costly[y]].weight
	})
	return append(cheap, costly...), len(cheap)
}

// score compares a and b. With min > 0 (an evidence rule only) it may stop early and return
// an empty result when the score cannot reach min; the fields are then compared in r.order.
func (r *Rule) score(a, b *Prepared, force bool, min float64) Result {
	var sims [MaxFields]float64
	var notes [MaxFields]note
	var present [MaxFields]bool
	n := len(r.fields)
	if len(a.vals) != n || len(b.vals) != n {
		return Result{}
	}
	failed := false
	var bounded uint32 // fields compared only as far as a minimum: similarity below it, not exact
	if min > 0 && min < 1 && r.evidence && !force {
		// Points the fields must bring for the score to reach min, and the most the fields
		// not compared yet can still bring (a field's points never exceed its weight, a
		// swapped-name reading included; a failed requirement only lowers the score).
		// A lazily prepared candidate's pending fields count as present until prepared.
		r.complete(a)
		need := r.needFor(min)
		most := 0.0
		for i := range r.fields {
			maybe := b.pending&(1<<i) != 0 || !b.vals[i].blank()
			if !a.vals[i].blank() && maybe {
				present[i] = true
				most += r.fields[i].weight
			} else if r.fields[i].spec.Required {
				return Result{}
			}
		}
		got := 0.0
		for k, i := range r.order {
			if !present[i] {
				continue
			}
			f := &r.fields[i]
			r.ensure(b, i)
			if b.vals[i].blank() {
				if f.spec.Required {
					return Result{}
				}
				present[i] = false
				most -= f.weight
				continue
			}
			name := i == r.first || i == r.last
			prunable := !name && k >= r.cheap-1
			min := 0.0
			if !name && !f.spec.Required {
				// Every similarity below the floor scores -penalty: the comparator may stop
				// as soon as it knows the similarity is below it. (Names are exact: the
				// swapped-name check reads them; a required field's minimum too.) A kept
				// candidate's explanation compares such fields again, below.
				min = f.floor
			}
			if prunable {
				// The candidate is given up right after this field unless it brings req
				// points: the least similarity that does (f.least) is a minimum too. A
				// margin keeps rounding on the side of comparing.
				req := need - got - most + f.weight
				if req > f.weight+1e-9 {
					return Result{}
				}
				min = max(min, f.least(req-1e-9))
			}
			sims[i], notes[i] = f.compareAbove(r.lex, &a.vals[i], &b.vals[i], min)
			if sims[i] < min {
				bounded |= 1 << i
			}
			got += f.points(sims[i])
			most -= f.weight
			if !prunable {
				continue // the names' points may still rise (swapped names); cheap ones in one go
			}
			if got+most < need {
				return Result{}
			}
		}
		// Fields neither side has stay unprepared: nothing below reads a field not present.
	} else {
		r.complete(a)
		r.complete(b)
		for i := range r.fields {
			f := &r.fields[i]
			va, vb := &a.vals[i], &b.vals[i]
			if va.blank() || vb.blank() {
				if f.spec.Required {
					failed = true
				}
				continue
			}
			present[i] = true
			sims[i], notes[i] = f.compare(r.lex, va, vb)
		}
	}
	swapped := false
	if r.first >= 0 && present[r.first] && present[r.last] && sims[r.first]+sims[r.last] < 1.9 {
		fa, la := &a.vals[r.first], &a.vals[r.last]
		fb, lb := &b.vals[r.first], &b.vals[r.last]
		s1, _ := nameTokenSim(r.lex, fa.alt, lb.alt)
		s2, _ := nameTokenSim(r.lex, la.alt, fb.alt)
		// Both names entered the wrong way round, or one name typed into the other's field
		// (the other then compares as different).
		if (s1 >= 0.85 && s2 >= 0.85 || s1 >= 0.95 || s2 >= 0.95) && s1+s2 > sims[r.first]+sims[r.last]+0.2 {
			swapped = true
			sims[r.first], sims[r.last] = s1*0.97, s2*0.97
			notes[r.first], notes[r.last] = noteSwapped, noteSwapped
			for _, i := range [2]int{r.first, r.last} {
				if sims[i] < r.fields[i].floor {
					notes[i] = noteDifferent
				}
			}
		}
	}
	for i := range r.fields {
		f := &r.fields[i]
		if f.spec.Required && present[i] && sims[i] < f.spec.MinSimilarity {
			failed = true
		}
	}
	score := 0.0
	if !failed {
		score = r.combine(sims[:n], present[:n])
	}
	res := Result{Score: score}
	if force || score >= r.spec.ExplainMin {
		// The explanation shows similarities: compare exactly the fields compared only as
		// far as a minimum (their points, -penalty, are the same).
		for ; bounded != 0; bounded &= bounded - 1 {
			i := bits.TrailingZeros32(bounded)
			sims[i], notes[i] = r.fields[i].compare(r.lex, &a.vals[i], &b.vals[i])
		}
		r.explain(&res, a, b, sims[:n], notes[:n], present[:n], swapped)
	}
	return res
}

// combine turns field similarities into the rule's score.
func (r *Rule) combine(sims []float64, present []bool) float64 {
	if !r.evidence {
		total, weights := 0.0, 0.0
		for i := range r.fields {
			if !present[i] {
				continue
			}
			total += r.fields[i].weight * sims[i]
			weights += r.fields[i].weight
		}
		if weights == 0 {
			return 0
		}
		return total / weights
	}
	points := r.spec.Prior
	for i := range r.fields {
		if present[i] {
			points += r.fields[i].points(sims[i])
		}
	}
	return 1 / (1 + math.Exp2(-points))
}

// needFor is the points an evidence score must bring to reach min (a little less, so that
// rounding keeps a candidate rather than drops it).
type needFor struct{ min, need float64 }

func (r *Rule) needFor(min float64) float64 {
	if n := r.need.Load(); n != nil && n.min == min {
		return n.need
	}
	n := &needFor{min: min, need: math.Log2(min/(1-min)) - r.spec.Prior - 1e-9}
	r.need.Store(n)
	return n.need
}

// least is the least similarity that brings the field req points or more (points is
// non-decreasing): 0 when any does (req at or below -penalty), else at least the floor.
func (f *field) least(req float64) float64 {
	switch {
	case req <= -f.penalty:
		return 0
	case req <= 0:
		return f.floor
	case req >= f.weight:
		return 1
	}
	return f.floor + req/f.weight*(1-f.floor)
}

// points is a field's evidence for similarity s: -penalty below the floor, then linear from 0
// at the floor to +weight at 1.
func (f *field) points(s float64) float64 {
	if s >= 1 {
		return f.weight
	}
	if s < f.floor {
		return -f.penalty
	}
	return f.weight * (s - f.floor) / (1 - f.floor)
}

// Points returns the evidence points field i of the rule gives a similarity (for tools and
// documentation); 0 for an index out of range.
func (r *Rule) Points(i int, similarity float64) float64 {
	if i < 0 || i >= len(r.fields) {
		return 0
	}
	return r.fields[i].points(similarity)
}

func (r *Rule) explain(res *Result, a, b *Prepared, sims []float64, notes []note, present []bool, swapped bool) {
	res.Fields = make([]FieldResult, 0, len(r.fields))
	var pos, neg []string
	if swapped {
		pos = append(pos, "first and last name swapped")
	}
	for i := range r.fields {
		f := &r.fields[i]
		if !present[i] {
			continue
		}
		res.Fields = append(res.Fields, FieldResult{Attr: f.spec.Attr, Similarity: round3(sims[i]), Note: noteCodes[notes[i]]})
		if notes[i] == noteSwapped {
			continue // said once, as "first and last name swapped"
		}
		if notes[i] == noteDifferent {
			neg = append(neg, f.label+" differs")
			continue
		}
		pos = append(pos, reason(f, &a.vals[i], &b.vals[i], notes[i]))
	}
	res.Reasons = append(pos, neg...)
}

// reason renders one agreeing field as a short phrase. Values are personal data: callers that
// log reasons must not (the webhook logs never print them).
func reason(f *field, a, b *value, n note) string {
	pair := func(why string) string {
		return fmt.Sprintf("%s %s ~ %s (%s)", f.label, a.raw, b.raw, why)
	}
	switch n {
	case noteEqual:
		return f.label + " equal"
	case noteNormalised:
		return f.label + " equal after normalisation"
	case noteNickname:
		return pair("nickname")
	case noteInitial:
		return pair("initial")
	case notePhonetic:
		return pair("sounds alike")
	case notePartOf:
		return pair("one contains the other")
	case noteWordOrder:
		return pair("same words, different order")
	case noteSameMailbox:
		return pair("same mailbox, different domain")
	case noteLocalNumber:
		return f.label + " equal without country or area code"
	case noteOneDigit:
		return pair("one character differs")
	case noteOneDay:
		return pair("one day apart")
	case noteDayMonth:
		return pair("day and month swapped")
	case noteHouseNumber:
		return pair("same street, different number")
	case noteUnit:
		return pair("same building, different unit")
	case noteDateParts:
		return pair("two of year, month and day agree")
	}
	return pair("similar")
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// attrLabels are the explanation names of common Dataverse attributes.
var attrLabels = map[string]string{
	"firstname": "first name", "lastname": "last name", "middlename": "middle name",
	"fullname": "name", "yomifullname": "name", "name": "name", "companyname": "company",
	"emailaddress1": "email", "emailaddress2": "email 2", "emailaddress3": "email 3",
	"telephone1": "phone", "telephone2": "phone 2", "telephone3": "phone 3",
	"mobilephone": "mobile", "fax": "fax", "birthdate": "birth date",
	"governmentid": "government id", "address1_line1": "address", "address1_line2": "address line 2",
	"address1_city": "city", "address1_postalcode": "postcode", "address1_stateorprovince": "state",
	"address1_country": "country", "websiteurl": "website", "accountnumber": "account number",
}

func attrLabel(attr string) string {
	if l, ok := attrLabels[attr]; ok {
		return l
	}
	return strings.ReplaceAll(attr, "_", " ")
}
