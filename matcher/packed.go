package matcher

import (
	"encoding/binary"
	"slices"
	"strings"
	"unsafe"
)

// PackAttrs packs attributes into one string (uvarint(len(name)) ‖ name ‖ uvarint(len(value))
// ‖ value, in name order): how in-process indexes keep a record's attributes, one pointer-free
// string instead of a map for the garbage collector to trace, and how they hand candidates out
// (Record.Packed) without building a map per candidate. UnpackAttrs reverses it.
func PackAttrs(attrs map[string]string) string {
	b := make([]byte, 0, PackedLen(attrs))
	return unsafe.String(unsafe.SliceData(b), len(AppendPacked(b, attrs)))
}

// PackedLen is the length of PackAttrs(attrs).
func PackedLen(attrs map[string]string) int {
	n := 0
	for k, v := range attrs {
		n += uvarintLen(len(k)) + len(k) + uvarintLen(len(v)) + len(v)
	}
	return n
}

// AppendPacked appends PackAttrs(attrs) to dst: how an index that keeps records' strings
// side by side files the attributes without a string of their own.
func AppendPacked(dst []byte, attrs map[string]string) []byte {
	var buf [16]Attr // a record has a handful: sorted on the stack
	list := buf[:0]
	if len(attrs) > len(buf) {
		list = make([]Attr, 0, len(attrs))
	}
	for k, v := range attrs {
		list = append(list, Attr{k, v})
	}
	if len(list) > len(buf) {
		slices.SortFunc(list, func(a, b Attr) int { return strings.Compare(a.Name, b.Name) })
	} else {
		for i := 1; i < len(list); i++ { // insertion sort
			for j := i; j > 0 && list[j].Name < list[j-1].Name; j-- {
				list[j], list[j-1] = list[j-1], list[j]
			}
		}
	}
	for _, a := range list {
		dst = binary.AppendUvarint(dst, uint64(len(a.Name)))
		dst = append(dst, a.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(a.Value)))
		dst = append(dst, a.Value...)
	}
	return dst
}

// Attr is one attribute's name and value.
type Attr struct {
	Name, Value string
}

// PackAttrList is PackAttrs for a list of attributes with distinct names, in any order (it
// sorts attrs in place): how an index that reads attributes one by one packs them without
// building a map first.
func PackAttrList(attrs []Attr) string {
	size := 0
	for i := 1; i < len(attrs); i++ { // insertion sort: a record has a handful
		for j := i; j > 0 && attrs[j].Name < attrs[j-1].Name; j-- {
			attrs[j], attrs[j-1] = attrs[j-1], attrs[j]
		}
	}
	for _, a := range attrs {
		size += uvarintLen(len(a.Name)) + len(a.Name) + uvarintLen(len(a.Value)) + len(a.Value)
	}
	var b strings.Builder
	b.Grow(size)
	var tmp [binary.MaxVarintLen64]byte
	for _, a := range attrs {
		b.Write(binary.AppendUvarint(tmp[:0], uint64(len(a.Name))))
		b.WriteString(a.Name)
		b.Write(binary.AppendUvarint(tmp[:0], uint64(len(a.Value))))
		b.WriteString(a.Value)
	}
	return b.String()
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// UnpackAttrs returns a new map of the attributes PackAttrs packed; the strings share the
// packed string's memory. A damaged string yields the attributes before the damage.
func UnpackAttrs(s string) map[string]string {
	// Sized exactly: a map of up to 8 entries is one small group, far cheaper to make than the
	// table a larger size hint asks for.
	n := 0
	for t := s; len(t) > 0; n++ {
		if _, ok := nextPacked(&t); !ok {
			break
		}
		if _, ok := nextPacked(&t); !ok {
			break
		}
	}
	out := make(map[string]string, n)
	for range n {
		k, _ := nextPacked(&s)
		v, _ := nextPacked(&s)
		out[k] = v
	}
	return out
}

// packedAttr returns the value of attribute name in packed attributes s.
func packedAttr(s, name string) (string, bool) {
	for len(s) > 0 {
		k, ok := nextPacked(&s)
		if !ok {
			return "", false
		}
		v, ok := nextPacked(&s)
		if !ok {
			return "", false
		}
		if k == name {
			return v, true
		}
		if k > name {
			return "", false // names are in order
		}
	}
	return "", false
}

// nextPacked reads one length-prefixed string off the front of *s.
func nextPacked(s *string) (string, bool) {
	t := *s
	if len(t) > 0 && t[0] < 0x80 && int(t[0]) < len(t) {
		v := t[1 : 1+t[0]] // a length below 128: one byte
		*s = t[1+t[0]:]
		return v, true
	}
	n, w := uvarint(t)
	if w <= 0 || n > uint64(len(t)-w) {
		*s = ""
		return "", false
	}
	*s = t[w+int(n):]
	return t[w : w+int(n)], true
}

// Attr returns the record's value of attribute name, from Attrs or, when Attrs is nil, from
// Packed.
func (r Record) Attr(name string) (string, bool) {
	if r.Attrs == nil && r.Packed != "" {
		return packedAttr(r.Packed, name)
	}
	v, ok := r.Attrs[name]
	return v, ok
}

// Unpacked returns the record with its attributes in Attrs: r itself, or r with a new map of
// its packed attributes (and Packed empty).
func (r Record) Unpacked() Record {
	if r.Attrs == nil && r.Packed != "" {
		r.Attrs, r.Packed = UnpackAttrs(r.Packed), ""
	}
	return r
}
