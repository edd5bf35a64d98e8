package matcher

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sync/atomic"
	"unsafe"
)

// A form is a candidate's prepared values (what PrepareCandidate computes) encoded in one
// string, one section per rule. An in-process index keeps it next to the record (Record.Form),
// so that a lookup's candidates are decoded, not normalised again, and the index holds one
// pointer-free string per record rather than a graph of prepared values for the garbage
// collector to trace. A section is tied to the compiled Rule that wrote it (a process-local
// id): after a rules reload the old sections are ignored and candidates are prepared from
// their attributes as before, so a form is never read under other rules than its own.
//
// Layout: sections of uvarint(rule id) ‖ uvarint(body length) ‖ body ‖ CRC-32C of the body (4
// bytes, so that a damaged form is ignored rather than decoded into values no preparation
// could produce); a body is uvarint(mask of the fields with a value), then those values in
// the order ScoreAbove compares fields (Rule.order), so that a candidate is decoded as far as
// it is compared and no further: each value is uvarint flags (the vf constants say which parts
// follow and which repeat another), then raw, norm,
// alt, the tokens (count, then each), ph1, ph2, the nickname groups (count, then each), num,
// unit (strings as uvarint length ‖ bytes), days and the three parts of ymd (uvarints), each
// only when the flags do not say it is empty or equal to an earlier part.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ruleIDs numbers compiled rules, for the sections of forms.
var ruleIDs atomic.Uint64

// errForm is returned for a form that does not decode (never written by AppendForm).
var errForm = errors.New("matcher: malformed form")

// IndexEntry prepares rec, a row of the rule's candidate table, once and returns the keys it
// is filed under (as IndexKeys) and dst with the rule's form section appended.
func (r *Rule) IndexEntry(rec Record, dst []byte) ([]string, []byte) {
	_, keys, dst := r.IndexEntryPrepared(rec, dst)
	return keys, dst
}

// IndexEntryPrepared is IndexEntry that also returns rec prepared as a candidate, its keys
// kept in it (BlockingKeys of it costs nothing). For a Symmetric rule that is also rec
// prepared as a checked record: what PrepareChecked decodes from the form section.
func (r *Rule) IndexEntryPrepared(rec Record, dst []byte) (*Prepared, []string, []byte) {
	p := r.prepare(rec, true)
	keys := r.BlockingKeys(p)
	return p, keys, r.appendForm(dst, p)
}

// Symmetric reports whether the rule reads the same attributes of the checked record and of a
// candidate (one table, no candidate attribute of its own): a record prepared as a candidate
// is then prepared as a checked record too.
func (r *Rule) Symmetric() bool { return r.symmetric }

func (r *Rule) appendForm(dst []byte, p *Prepared) []byte {
	r.complete(p)
	var mask uint64
	for i := range p.vals {
		if !p.vals[i].zero() {
			mask |= 1 << i
		}
	}
	var buf [512]byte // most bodies: no allocation (the body is copied into dst)
	body := binary.AppendUvarint(buf[:0], mask)
	for _, i := range r.order {
		if mask&(1<<i) != 0 {
			body = appendValue(body, &p.vals[i])
		}
	}
	dst = binary.AppendUvarint(dst, r.id)
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	start := len(dst)
	dst = append(dst, body...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// Value flags: which parts of a value its form entry holds. Most parts repeat another (a
// name's norm, alt and only token are one string; its two phonetic codes are one) or are
// empty, so an entry stores each distinct part once: about half the bytes to keep and touch.
const (
	vfPresent     = 1 << iota // 0 alone: the zero value
	vfNormRaw                 // norm == raw
	vfAltNone                 // alt == ""
	vfAltNorm                 // alt == norm
	vfToksNorm                // toks == [norm]
	vfToksAlt                 // toks == [alt]
	vfToksNone                // no tokens
	vfPh2Same                 // ph2 == ph1
	vfNoGroups                // no nickname groups
	vfNoNumbers               // num, unit, days and ymd all zero
	vfPlaceholder             // ph
)

// zero reports a value a form does not hold (its field is not in the section's mask).
func (v *value) zero() bool { return v.raw == "" && v.norm == "" && !v.ph }

func appendValue(b []byte, v *value) []byte {
	if v.zero() {
		return append(b, 0)
	}
	f := uint64(vfPresent)
	if v.norm == v.raw {
		f |= vfNormRaw
	}
	switch {
	case v.alt == "":
		f |= vfAltNone
	case v.alt == v.norm:
		f |= vfAltNorm
	}
	switch {
	case len(v.toks) == 0:
		f |= vfToksNone
	case len(v.toks) == 1 && v.toks[0] == v.norm:
		f |= vfToksNorm
	case len(v.toks) == 1 && v.toks[0] == v.alt:
		f |= vfToksAlt
	}
	if v.ph2 == v.ph1 {
		f |= vfPh2Same
	}
	if len(v.groups) == 0 {
		f |= vfNoGroups
	}
	if v.num == "" && v.unit == "" && v.days == 0 && v.ymd == [3]int16{} {
		f |= vfNoNumbers
	}
	if v.ph {
		f |= vfPlaceholder
	}
	b = binary.AppendUvarint(b, f)
	b = appendString(b, v.raw)
	if f&vfNormRaw == 0 {
		b = appendString(b, v.norm)
	}
	if f&(vfAltNone|vfAltNorm) == 0 {
		b = appendString(b, v.alt)
	}
	if f&(vfToksNone|vfToksNorm|vfToksAlt) == 0 {
		b = binary.AppendUvarint(b, uint64(len(v.toks)))
		for _, t := range v.toks {
			b = appendString(b, t)
		}
	}
	b = appendString(b, v.ph1)
	if f&vfPh2Same == 0 {
		b = appendString(b, v.ph2)
	}
	if f&vfNoGroups == 0 {
		b = binary.AppendUvarint(b, uint64(len(v.groups)))
		for _, g := range v.groups {
			b = binary.AppendUvarint(b, uint64(uint32(g)))
		}
	}
	if f&vfNoNumbers == 0 {
		b = appendString(b, v.num)
		b = appendString(b, v.unit)
		b = binary.AppendUvarint(b, uint64(uint32(v.days)))
		for _, x := range v.ymd {
			b = binary.AppendUvarint(b, uint64(uint16(x)))
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// section returns the body of the rule's section of form, if it has one.
func (r *Rule) section(form string) (string, bool) {
	for len(form) > 0 {
		id, n := uvarint(form)
		if n <= 0 {
			return "", false
		}
		size, m := uvarint(form[n:])
		if m <= 0 || size > uint64(len(form)-n-m) || len(form)-n-m-int(size) < 4 {
			return "", false
		}
		body := form[n+m : n+m+int(size)]
		end := n + m + int(size) + 4
		if id == r.id {
			t := form[end-4 : end]
			sum := uint32(t[0]) | uint32(t[1])<<8 | uint32(t[2])<<16 | uint32(t[3])<<24
			// The checksum reads the string's bytes in place (crc32 does not keep or change them).
			return body, sum == crc32.Update(0, castagnoli, unsafe.Slice(unsafe.StringData(body), len(body)))
		}
		form = form[end:]
	}
	return "", false
}

// CandidateScratch is reusable storage for candidates decoded from their forms: one per
// goroutine, reused from candidate to candidate.
type CandidateScratch struct {
	p       Prepared
	toks    []string
	groups  []int32
	touched byte // see Prefetch
}

// Prefetch reads the first byte of each record's form, in a loop of independent loads: the
// processor fetches them all at once, where decoding the candidates one after another would
// wait for each in turn (an in-process index's forms are spread over gigabytes). Call it with
// a lookup's candidates before preparing them one by one.
func (s *CandidateScratch) Prefetch(recs []Record) {
	var t byte
	for i := range recs {
		f := recs[i].Form
		for j := 0; j < len(f); j += 64 {
			t ^= f[j]
		}
		if f != "" {
			t ^= f[len(f)-1]
		}
	}
	s.touched = t // kept, so that the loads are not optimised away
}

// PrepareCandidateWith is PrepareCandidate for a record that may carry a form: when rec.Form
// has this rule's section, the candidate is decoded into s (no normalisation, no allocation
// once s has grown) and the result is valid until the next call with s; otherwise it is
// PrepareCandidate(rec). The result must be treated as read-only.
//
// A candidate without a usable form is prepared into s as well the first time it comes (no
// allocation for its values), lazily: its values are prepared as ScoreAbove compares them (and
// in full by any other use), so that a candidate given up on early costs only the fields
// compared; through the rule's candidate cache when it comes again (see candidateCache.again):
// a candidate seen once in a million is not worth a cache entry.
func (r *Rule) PrepareCandidateWith(s *CandidateScratch, rec Record) *Prepared {
	if s == nil {
		return r.PrepareCandidate(rec)
	}
	if rec.Form != "" {
		if body, ok := r.section(rec.Form); ok && r.decodeLazy(s, rec, body) {
			return &s.p
		}
	}
	if r.cache != nil && rec.ID != "" && r.cache.again(rec) {
		return r.PrepareCandidate(rec)
	}
	r.prepareLazy(&s.p, rec)
	return &s.p
}

// PrepareChecked is Prepare for a record being checked that may carry its own form (a row
// of a scanned file, filed in the file's index just before its check): when the rule reads
// the same attributes on both sides, the form's section is decoded instead of normalising the
// record again. The values are those of the record as filed (index.Prepare: phones in E.164).
// The result is the caller's.
func (r *Rule) PrepareChecked(rec Record) *Prepared {
	if rec.Form != "" && r.symmetric {
		if body, ok := r.section(rec.Form); ok {
			var s CandidateScratch
			if r.decodeInto(&s, rec, body) == nil {
				return &s.p
			}
		}
	}
	return r.Prepare(rec)
}

// decodeInto decodes a whole section body into s.p.
func (r *Rule) decodeInto(s *CandidateScratch, rec Record, body string) error {
	if !r.decodeLazy(s, rec, body) {
		return errForm
	}
	r.complete(&s.p)
	if s.p.formBad {
		return errForm
	}
	return nil
}

// decodeLazy sets s.p up as rec's candidate decoded from a section body as far as its
// values are read (ensure): the fields of the body's mask are pending, and decoding one
// decodes those before it in the body too. It reports false for a mask no form of the rule
// has.
func (r *Rule) decodeLazy(s *CandidateScratch, rec Record, body string) bool {
	n := len(r.fields)
	d := formDecoder{s: body}
	mask := d.uint()
	if d.bad || mask >= 1<<n {
		return false
	}
	if cap(s.p.vals) < n {
		s.p.vals = make([]value, n)
	}
	s.p.vals = s.p.vals[:n]
	// Only the values the form does not hold are cleared here: the others are cleared as
	// they are decoded (decodeNext), and a candidate given up early never pays for those it
	// did not reach.
	for i := range s.p.vals {
		if mask&(1<<i) == 0 {
			s.p.vals[i] = value{}
		}
	}
	s.p.Record = rec
	s.p.keys, s.p.keysOf = nil, 0
	s.p.pending, s.p.region, s.p.regionOK = uint32(mask), "", false
	s.p.form, s.p.formAt, s.p.formBad, s.p.scratch = d.s, 0, false, s
	// The previous candidate's tokens and groups may still be referenced by nobody: reuse.
	s.toks, s.groups = s.toks[:0], s.groups[:0]
	return true
}

// decodeNext decodes p's pending fields in body order up to and including field want. A value
// that does not decode (a form no AppendForm wrote, which its checksum makes all but
// impossible) leaves that field and those after it to be prepared from the record's
// attributes, as a candidate without a form is.
func (r *Rule) decodeNext(p *Prepared, want int) {
	s := p.scratch
	d := formDecoder{s: p.form}
	for p.formAt < len(r.order) {
		i := r.order[p.formAt]
		p.formAt++
		if p.pending&(1<<i) == 0 {
			continue // no value in the form
		}
		p.vals[i] = value{}
		if !decodeValue(&d, s, &p.vals[i]) {
			p.vals[i] = value{}
			r.formFallback(p)
			return
		}
		p.pending &^= 1 << i
		if i == want {
			break
		}
	}
	p.form = d.s
	if p.formAt == len(r.order) && len(d.s) != 0 {
		r.formFallback(p) // bytes after the last value: not a form the rule wrote
	}
}

// formFallback switches p from its form to its attributes for the fields not decoded yet.
func (r *Rule) formFallback(p *Prepared) {
	p.formBad, p.form, p.scratch = true, "", nil
	n := len(r.fields)
	if cap(p.raws) < n {
		p.raws = make([]string, n)
	}
	p.raws = p.raws[:n]
	clear(p.raws)
	p.pending = 0
	for k, i := range r.order {
		if k < p.formAt && !p.vals[i].zero() {
			continue // decoded
		}
		p.vals[i] = value{}
		if raw, ok := p.Record.Attr(r.fields[i].candAttr); ok {
			p.raws[i] = raw
			p.pending |= 1 << i
		}
	}
}

// decodeValue decodes one value of a section body into v (tokens and groups into s's
// buffers); false for bytes AppendForm does not write.
func decodeValue(d *formDecoder, s *CandidateScratch, v *value) bool {
	f := d.uint()
	if f&vfPresent == 0 || f >= vfPlaceholder<<1 {
		return false
	}
	v.raw = d.str()
	v.norm = v.raw
	if f&vfNormRaw == 0 {
		v.norm = d.str()
	}
	switch {
	case f&vfAltNone != 0:
	case f&vfAltNorm != 0:
		v.alt = v.norm
	default:
		v.alt = d.str()
	}
	switch {
	case f&vfToksNone != 0:
	case f&vfToksNorm != 0:
		s.toks = append(s.toks, v.norm)
		v.toks = s.toks[len(s.toks)-1 : len(s.toks) : len(s.toks)]
	case f&vfToksAlt != 0:
		s.toks = append(s.toks, v.alt)
		v.toks = s.toks[len(s.toks)-1 : len(s.toks) : len(s.toks)]
	default:
		if nt := d.uint(); nt > uint64(len(d.s)) {
			return false
		} else if nt > 0 {
			start := len(s.toks)
			for range nt {
				s.toks = append(s.toks, d.str())
			}
			v.toks = s.toks[start:len(s.toks):len(s.toks)]
		}
	}
	v.ph1 = d.str()
	v.ph2 = v.ph1
	if f&vfPh2Same == 0 {
		v.ph2 = d.str()
	}
	if f&vfNoGroups == 0 {
		if ng := d.uint(); ng > uint64(len(d.s)) {
			return false
		} else if ng > 0 {
			start := len(s.groups)
			for range ng {
				s.groups = append(s.groups, int32(uint32(d.uint())))
			}
			v.groups = s.groups[start:len(s.groups):len(s.groups)]
		}
	}
	if f&vfNoNumbers == 0 {
		v.num, v.unit = d.str(), d.str()
		v.days = int32(uint32(d.uint()))
		for j := range v.ymd {
			v.ymd[j] = int16(uint16(d.uint()))
		}
	}
	v.ph = f&vfPlaceholder != 0
	return !d.bad
}

// formDecoder reads a section body; a read past its end sets bad and returns zero values.
type formDecoder struct {
	s   string
	bad bool
}

func (d *formDecoder) uint() uint64 {
	x, n := uvarint(d.s)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.s = d.s[n:]
	return x
}

func (d *formDecoder) str() string {
	l := d.uint()
	if d.bad || l > uint64(len(d.s)) {
		d.bad = true
		return ""
	}
	v := d.s[:l]
	d.s = d.s[l:]
	return v
}

// uvarint is binary.Uvarint for a string (no conversion, no allocation).
func uvarint(s string) (uint64, int) {
	if len(s) > 0 && s[0] < 0x80 {
		return uint64(s[0]), 1 // lengths and small numbers: almost every varint of a form
	}
	return uvarintSlow(s)
}

func uvarintSlow(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -1
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
