package matcher

import (
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"
)

// Keys have the form "<candidate table>|<label>|<hash>": the label names the attributes and
// transforms (short, for people reading the index), the hash is 64 bits of FNV-1a over the
// label and the normalised values, base64url-encoded (11 characters). Hashing keeps keys short
// and keeps clear-text personal data out of index key names; a collision only adds a candidate.
// Strong keys use the candidate attribute's name as label ("contact|emailaddress1|…").

// attrAbbrev are short key labels of common attributes.
var attrAbbrev = map[string]string{
	"emailaddress1": "em1", "emailaddress2": "em2", "emailaddress3": "em3",
	"telephone1": "tel1", "telephone2": "tel2", "telephone3": "tel3", "mobilephone": "mob",
	"governmentid": "gid", "firstname": "fn", "lastname": "ln", "fullname": "nm", "name": "nm",
	"birthdate": "dob", "address1_postalcode": "pc1", "address1_line1": "ad1",
	"address1_city": "ct1", "companyname": "co", "websiteurl": "web", "fax": "fax",
	"accountnumber": "acc",
}

var transformAbbrev = map[string]string{
	"value": "", "phonetic": "~p", "initial": "~i", "year": "~y", "nickname": "~n",
	"digits": "~d", "token": "~t", "local": "~l",
}

func (r *Rule) keyLabel(parts []compiledPart) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('+')
		}
		a := r.fields[p.field].candAttr
		if ab, ok := attrAbbrev[a]; ok {
			a = ab
		}
		b.WriteString(a)
		b.WriteString(transformAbbrev[p.transform])
	}
	return b.String()
}

// BlockingKeys returns the index keys under which candidates for p are filed. They are
// computed once per Prepared and kept in it: the caller must not change the slice.
func (r *Rule) BlockingKeys(p *Prepared) []string {
	if p.keysOf == r.id && p.keys != nil {
		return p.keys
	}
	r.complete(p)
	if len(p.vals) != len(r.fields) {
		return nil
	}
	keys := make([]string, 0, len(r.keys))
	// Every key's bytes go in one buffer, sized for all of them up front so that it never
	// moves: the keys are strings over it, one allocation instead of one a key.
	size := 0
	for _, k := range r.keys {
		size += len(r.spec.CandidateEntity) + 1 + len(k.label) + 1 + keyHashLen
	}
	buf := make([]byte, 0, size)
	var vals [8]string
	// Several keys share a part (a first name by sound is in five of the shipped contact
	// keys): each distinct part is computed once.
	var cache [24]struct {
		field     int
		transform string
		v         string
	}
	cached := cache[:0]
	value := func(part compiledPart) string {
		for i := range cached {
			if c := &cached[i]; c.field == part.field && c.transform == part.transform {
				return c.v
			}
		}
		v := keyValue(r.lex, &r.fields[part.field], &p.vals[part.field], part.transform)
		if len(cached) < cap(cached) {
			cached = append(cached, struct {
				field     int
				transform string
				v         string
			}{part.field, part.transform, v})
		}
		return v
	}
outer:
	for _, k := range r.keys {
		vs := vals[:0]
		for _, part := range k.parts {
			v := value(part)
			if v == "" {
				continue outer
			}
			vs = append(vs, v)
		}
		if k.unordered {
			for i := 1; i < len(vs); i++ { // insertion sort: a key has a handful of parts
				for j := i; j > 0 && vs[j] < vs[j-1]; j-- {
					vs[j], vs[j-1] = vs[j-1], vs[j]
				}
			}
		}
		start := len(buf)
		buf = appendKey(buf, r.spec.CandidateEntity, k.label, vs)
		key := unsafe.String(&buf[start], len(buf)-start)
		if contains(keys, key) {
			buf = buf[:start] // the bytes are free again: nothing points at them
			continue
		}
		if len(keys) < len(p.keyMax) {
			p.keyMax[len(keys)] = int32(k.labelMax)
		}
		keys = append(keys, key)
	}
	p.keys, p.keysOf = keys, r.id
	return keys
}

// KeyMaxBlocks returns KeyMaxBlock of each of BlockingKeys(p), without parsing them, once
// BlockingKeys(p) has been asked; nil otherwise (or for a record with very many keys).
func (r *Rule) KeyMaxBlocks(p *Prepared) []int32 {
	if p.keysOf != r.id || p.keys == nil || len(p.keys) > len(p.keyMax) {
		return nil
	}
	return p.keyMax[:len(p.keys)]
}

// StrongKeys returns the keys of p's exact identifiers, reserved against concurrent creates.
func (r *Rule) StrongKeys(p *Prepared) []string {
	r.complete(p)
	if len(p.vals) != len(r.fields) {
		return nil
	}
	var keys []string
	for i := range r.fields {
		f := &r.fields[i]
		if !f.spec.Strong || p.vals[i].blank() {
			continue
		}
		keys = append(keys, makeKey(r.spec.CandidateEntity, f.candAttr, []string{p.vals[i].norm}))
	}
	return keys
}

// IndexKeys returns the keys under which rec, a row of the rule's candidate table, is filed.
func (r *Rule) IndexKeys(rec Record) []string {
	return r.BlockingKeys(r.PrepareCandidate(rec))
}

// keyValue is one part of a key: the value transformed, or "" when there is none.
func keyValue(lex *Lexicon, f *field, v *value, transform string) string {
	if v.blank() {
		return ""
	}
	switch transform {
	case "phonetic":
		switch f.kind {
		case kFirstName, kPersonName, kCompany:
			if len(v.toks) > 0 {
				p, _ := DoubleMetaphone(v.toks[0])
				return p
			}
			return ""
		case kLastName:
			return v.ph1
		}
		p, _ := DoubleMetaphone(compact(v.norm))
		return p
	case "initial":
		s := v.norm
		if f.kind == kAddress {
			s = v.alt
		}
		for _, r := range s {
			return string(r)
		}
		return ""
	case "year":
		if len(v.norm) == 8 {
			return v.norm[:4]
		}
		return ""
	case "nickname":
		if len(v.groups) > 0 {
			best := ""
			for _, g := range v.groups {
				if c := lex.canon[g]; best == "" || c < best {
					best = c
				}
			}
			return best
		}
		return v.alt
	case "digits":
		d := v.alt
		if len(d) > 7 {
			d = d[len(d)-7:]
		}
		return d
	case "local":
		// The mailbox name: survives a typo in the domain. Role mailboxes are placeholders.
		if len(v.alt) < 3 {
			return ""
		}
		return v.alt
	case "token":
		if len(v.toks) > 0 {
			return v.toks[0]
		}
		t, _, _ := strings.Cut(v.norm, " ")
		return t
	}
	// value
	switch f.kind {
	case kFirstName, kLastName, kPersonName, kCompany:
		return v.alt
	case kAddress:
		// House number and the first word of the street: robust to typos in the street
		// type and to words added after the name. No number, no key (too broad).
		if v.num == "" || len(v.toks) == 0 {
			return ""
		}
		return v.num + " " + v.toks[0]
	}
	return v.norm
}

// makeKey returns "<table>|<label>|<hash>" in one allocation.
func makeKey(table, label string, vals []string) string {
	var buf [128]byte
	return string(appendKey(buf[:0], table, label, vals))
}

// appendKey appends "<table>|<label>|<hash>" to b: the hash is appendKeyHash's.
func appendKey(b []byte, table, label string, vals []string) []byte {
	b = append(b, table...)
	b = append(b, '|')
	b = append(b, label...)
	b = append(b, '|')
	return appendKeyHash(b, label, vals)
}

// keyHashLen is the length of a key's hash: 64 bits in unpadded base64url.
const keyHashLen = 11

// appendKeyHash appends 64 bits of FNV-1a over the label and each value (each after a NUL),
// base64url-encoded without padding.
func appendKeyHash(b []byte, label string, vals []string) []byte {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(label); i++ {
		h = (h ^ uint64(label[i])) * prime64
	}
	for _, v := range vals {
		h *= prime64 // the NUL separator: h ^ 0 is h
		for i := 0; i < len(v); i++ {
			h = (h ^ uint64(v[i])) * prime64
		}
	}
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], h)
	return base64.RawURLEncoding.AppendEncode(b, sum[:])
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// KeyMaxBlock returns the MaxBlock of one of the rule's blocking keys (as BlockingKeys
// returned it): the lookup skips the key when more records are filed under it. 0: none.
func (r *Rule) KeyMaxBlock(key string) int {
	i, j := strings.IndexByte(key, '|'), strings.LastIndexByte(key, '|')
	if i < 0 || j <= i {
		return 0
	}
	label := key[i+1 : j]
	mb := 0
	for _, k := range r.keys {
		if k.label == label {
			mb = k.maxBlock
		}
	}
	return mb
}

// KeyLabels returns the labels of the rule's blocking keys, in order (for documentation and
// the validate command).
func (r *Rule) KeyLabels() []string {
	out := make([]string, len(r.keys))
	for i, k := range r.keys {
		out[i] = k.label
	}
	return out
}

// String describes the rule briefly.
func (r *Rule) String() string {
	return r.spec.Name + " (" + r.spec.Entity + " → " + r.spec.CandidateEntity + ", " + strconv.Itoa(len(r.fields)) + " fields)"
}
