package redisindex

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"sort"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// The layout (docs/index.md has the measured figures):
//
//	<prefix>meta          hash: layout version, bucket count, name codes (e:<table>,
//	                      a:<attribute>), sync watermarks (w:<table>)
//	<prefix>k:<n>         key bucket, a sorted set with all scores 0: one 8-byte member per
//	                      (blocking key, record) = 4 bytes of the key's hash ‖ the record's
//	                      4-byte hash; a key's records are the lexicographic range of its
//	                      4-byte prefix (ZRANGEBYLEX)
//	<prefix>b:<hex>       big key, a list of 4-byte record hashes: a key filed for more than
//	                      bigAt records gets its own list, so that no bucket outgrows
//	                      Redis's compact encoding; a 5-byte marker member in its bucket
//	                      range tells writers
//	<prefix>r:<n>         record bucket, a hash: record hash (4 bytes) → the record's entry:
//	                      table code and id, cached attributes (a mask of their codes, then
//	                      their values), and the 48-bit ids of the keys it is filed under
//	                      (to unfile them on update and delete)
//	<prefix>{dgres}:<hex> string with a TTL: a strong-key reservation, value = holder. The hash
//	                      tag puts all reservations in one Cluster slot, so that one script
//	                      claims a create's keys all or nothing
//
// Keys are never stored, only a 48-bit id: its low bits choose the key bucket and bits 16–47
// prefix the member. Small keys (most keys: an e-mail address, a phone number) share buckets
// of a few dozen members; a key shared by many records (a common surname with an initial, a birth
// date) moves to a list of its own once it has more than bigAt records. Buckets (≤ 128
// members of ≤ 64 bytes) and lists (any length) stay in Redis's compact listpack encoding, so
// a key costs a record about 6–12 bytes whatever the block sizes. A sorted set that outgrows
// listpack would cost ≈ 100 bytes a member and never shrink back. Readers read a key's bucket
// range and its list in the same round trip, and merge them.
//
// Ids are stored once, in the record's entry (16 bytes for a Dataverse GUID). Two keys or two
// records whose hashes collide only share a member or a record slot: the entry's own key ids
// and id tell them apart, so a collision costs a little work, never a wrong candidate.
//
// Writes keep one invariant: a member never exists without its record's entry (entries are
// written before members are added, and members removed before entries are), so a key never
// names a record the index cannot return.

const (
	layoutVersion = "2"
	// DefaultBuckets is the key bucket count: 131,072 keeps key buckets under Redis's
	// listpack limit (128 members) up to about 1M contacts under the shipped rules (measured
	// at 1M, 9.85 keys a contact: 55 members on average, 140 at most, about 0.1% of buckets
	// past the limit). Choose about records × keys / 50, a power of two. Record buckets are
	// an eighth of it.
	DefaultBuckets = 1 << 17
	prefixLen      = 4
	ridLen         = 4
	memberLen      = prefixLen + ridLen
	kidLen         = 6
	kidMask        = 1<<48 - 1
	rawIDFlag      = 0x80
	maxTableCode   = 0x7f
	// bigAt is the number of records above which a key gets a list of its own.
	bigAt = 24
)

// keyID is the 48-bit id of a blocking key.
func keyID(k string) uint64 { return xxhash.Sum64String(k) & kidMask }

// keyPrefix is the member prefix of a key: bits 16–47 of its id. (A variable so that tests
// can force collisions.)
var keyPrefix = func(kid uint64) uint32 { return uint32(kid >> 16) }

// lexRange returns the ZRANGEBYLEX bounds holding every member of the key kid.
func lexRange(kid uint64) (lo, hi string) {
	p := keyPrefix(kid)
	var b [prefixLen]byte
	binary.BigEndian.PutUint32(b[:], p)
	lo = "[" + string(b[:])
	if p == 1<<32-1 {
		return lo, "+"
	}
	binary.BigEndian.PutUint32(b[:], p+1)
	return lo, "(" + string(b[:])
}

// member is the sorted-set member filing the record rid under the key kid.
func member(kid uint64, rid uint32) string {
	var b [memberLen]byte
	binary.BigEndian.PutUint32(b[:prefixLen], keyPrefix(kid))
	binary.BigEndian.PutUint32(b[prefixLen:], rid)
	return string(b[:])
}

// bigMarker is the member that tells writers a key has a list: the key's prefix and a zero
// byte, shorter than a member, so it sorts first in the key's range and readers skip it.
func bigMarker(kid uint64) string {
	var b [prefixLen + 1]byte
	binary.BigEndian.PutUint32(b[:prefixLen], keyPrefix(kid))
	return string(b[:])
}

func isBigMarker(m string) bool { return len(m) == prefixLen+1 && m[prefixLen] == 0 }

// memberRID returns the record hash of a member.
func memberRID(m string) (uint32, bool) {
	if len(m) != memberLen {
		return 0, false
	}
	return binary.BigEndian.Uint32([]byte(m[prefixLen:])), true
}

// ref identifies a record: its table code and id, as bytes (16 for a canonical lower-case
// GUID; the id's own bytes, with the top bit of the code set, otherwise).
func encodeRef(code byte, id string) string {
	if g, ok := parseGUID(id); ok {
		return string(append([]byte{code}, g[:]...))
	}
	return string([]byte{code | rawIDFlag}) + id
}

func decodeRef(ref string) (code byte, id string, err error) {
	if len(ref) < 2 {
		return 0, "", fmt.Errorf("%w: record ref of %d bytes", errCorrupt, len(ref))
	}
	c := ref[0]
	if c&rawIDFlag != 0 {
		return c &^ rawIDFlag, ref[1:], nil
	}
	if len(ref) != 17 {
		return 0, "", fmt.Errorf("%w: GUID record ref of %d bytes", errCorrupt, len(ref))
	}
	return c, formatGUID([]byte(ref[1:])), nil
}

// recordHash is the 4-byte hash of a ref: it names the record in members and record buckets.
// (A variable so that tests can force collisions.)
var recordHash = func(ref string) uint32 { return uint32(xxhash.Sum64String(ref)) }

func ridField(rid uint32) string {
	var b [ridLen]byte
	binary.BigEndian.PutUint32(b[:], rid)
	return string(b[:])
}

// parseGUID accepts only the canonical lower-case form, so that formatGUID gives back the very
// string it was given.
func parseGUID(s string) ([16]byte, bool) {
	var g [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return g, false
		}
		g[j] = hi<<4 | lo
		j++
		i += 2
	}
	return g, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func formatGUID(b []byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// reservationKey names the reservation of a strong key: a hash, so that no e-mail address or
// phone number appears in a key name.
func reservationKey(prefix, k string) string {
	sum := sha256.Sum256([]byte(k))
	return prefix + "{dgres}:" + hex.EncodeToString(sum[:16])
}

// bigKey names the list of a key filed for many records.
func bigKey(prefix string, kid uint64) string {
	return prefix + "b:" + strconv.FormatUint(kid, 16)
}

func bucketKey(prefix, kind string, n uint64) string {
	return prefix + kind + strconv.FormatUint(n, 10)
}

// entry is one record as a record bucket stores it.
type entry struct {
	ref   string
	attrs []codedAttr
	kids  []uint64
}

type codedAttr struct {
	code  uint64
	value string
}

func (e *entry) hasKey(kid uint64) bool {
	for _, k := range e.kids {
		if k == kid {
			return true
		}
	}
	return false
}

// A record slot's value is a version byte, then the slot's entries. Almost every slot holds
// one entry; two only on a hash collision.
//
//	valueOne   (3): one entry, its body to the end of the value
//	valueMany  (4): entries, each as uvarint length ‖ body
//	valueCoded (2): entries, each as uvarint length ‖ coded body (the first format; read, never
//	                written: a slot is rewritten in the current format when its record is next
//	                filed)
//
// A body is the ref (code byte, then 16 GUID bytes, or uvarint length ‖ raw id when the code's
// top bit is set); uvarint mask of the attribute codes below 63 that have a value (bit c for
// code c; bit 63: attributes with other codes follow), then those values in code order, each as
// uvarint length ‖ bytes; when bit 63 is set, uvarint count, then (uvarint code, uvarint length,
// bytes)…; then the 6-byte key ids to the end of the body. Against the coded body (uvarint
// attribute count, (uvarint code, uvarint length, bytes)…, uvarint key count, key ids) and a
// length prefix on a lone entry, this saves a record about one byte per attribute and three
// more: 400.0 against 390 bytes a record at 1M contacts under the shipped rules.
const (
	valueCoded = 2
	valueOne   = 3
	valueMany  = 4
	// maskExtra is the mask bit saying attributes with codes of maskExtra or more (or a
	// repeated code) follow the masked ones.
	maskExtra = 63
)

func encodeEntries(es []entry) []byte {
	n := 1
	for i := range es {
		n += entrySize(&es[i]) + binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	if len(es) == 1 {
		b = append(b, valueOne)
		return appendEntry(b, &es[0])
	}
	b = append(b, valueMany)
	for i := range es {
		body := appendEntry(nil, &es[i])
		b = binary.AppendUvarint(b, uint64(len(body)))
		b = append(b, body...)
	}
	return b
}

func entrySize(e *entry) int {
	n := len(e.ref) + 3*binary.MaxVarintLen64 + len(e.kids)*kidLen
	for _, a := range e.attrs {
		n += 2*binary.MaxVarintLen32 + len(a.value)
	}
	return n
}

// appendRef appends a ref as an entry body starts: the code byte, then the 16 GUID bytes, or
// uvarint length ‖ the raw id when the code's top bit is set.
func appendRef(b []byte, ref string) []byte {
	if ref[0]&rawIDFlag == 0 {
		return append(b, ref...)
	}
	b = append(b, ref[0])
	b = binary.AppendUvarint(b, uint64(len(ref)-1))
	return append(b, ref[1:]...)
}

func appendEntry(b []byte, e *entry) []byte {
	sort.SliceStable(e.attrs, func(i, j int) bool { return e.attrs[i].code < e.attrs[j].code })
	b = appendRef(b, e.ref)
	// Sorted by code, an attribute goes in the mask unless its code is too large for it or
	// repeats the one before (only a damaged slot repeats one; it is kept as it was read).
	inMask := func(i int) bool {
		c := e.attrs[i].code
		return c < maskExtra && (i == 0 || e.attrs[i-1].code != c)
	}
	var mask uint64
	extras := 0
	for i, a := range e.attrs {
		if inMask(i) {
			mask |= 1 << a.code
		} else {
			extras++
		}
	}
	if extras > 0 {
		mask |= 1 << maskExtra
	}
	b = binary.AppendUvarint(b, mask)
	for i, a := range e.attrs {
		if inMask(i) {
			b = binary.AppendUvarint(b, uint64(len(a.value)))
			b = append(b, a.value...)
		}
	}
	if extras > 0 {
		b = binary.AppendUvarint(b, uint64(extras))
		for i, a := range e.attrs {
			if !inMask(i) {
				b = binary.AppendUvarint(b, a.code)
				b = binary.AppendUvarint(b, uint64(len(a.value)))
				b = append(b, a.value...)
			}
		}
	}
	for _, k := range e.kids {
		var kb [8]byte
		binary.BigEndian.PutUint64(kb[:], k)
		b = append(b, kb[8-kidLen:]...)
	}
	return b
}

var errCorrupt = errors.New("corrupt index entry")

// entryArena backs the attribute and key-id slices of the entries one lookup decodes, so that
// a lookup allocates a few arrays instead of two small slices per entry. Each entry's slices
// are capped at their length: appending to one (as writers do) never overwrites a neighbour.
type entryArena struct {
	attrs []codedAttr
	kids  []uint64
}

// decodeEntries reads a record slot's value. The entries' strings share v's memory.
func decodeEntries(v string) ([]entry, error) { return decodeEntriesIn(v, nil) }

// decodeEntriesIn is decodeEntries with the entries' slices taken from ar (nil: allocated).
func decodeEntriesIn(v string, ar *entryArena) ([]entry, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: empty value", errCorrupt)
	}
	version := v[0]
	v = v[1:]
	switch version {
	case valueOne:
		e, err := decodeEntry(v, ar, false)
		if err != nil {
			return nil, err
		}
		return []entry{e}, nil
	case valueMany, valueCoded:
	default:
		return nil, fmt.Errorf("%w: unknown version %d", errCorrupt, version)
	}
	var out []entry
	for len(v) > 0 {
		l, n := uvarint(v)
		if n <= 0 || l > uint64(len(v)-n) {
			return nil, fmt.Errorf("%w: entry length", errCorrupt)
		}
		e, err := decodeEntry(v[n:n+int(l)], ar, version == valueCoded)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		v = v[n+int(l):]
	}
	return out, nil
}

// uvarint is binary.Uvarint for a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// decodeEntry reads an entry's body (legacy: a coded body, see encodeEntries).
func decodeEntry(b string, ar *entryArena, legacy bool) (entry, error) {
	var e entry
	next := func() (uint64, bool) {
		v, n := uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	if len(b) == 0 {
		return e, fmt.Errorf("%w: empty entry", errCorrupt)
	}
	if b[0]&rawIDFlag != 0 {
		c := b[0]
		b = b[1:]
		l, ok := next()
		if !ok || l == 0 || l > uint64(len(b)) {
			return e, fmt.Errorf("%w: id", errCorrupt)
		}
		e.ref = string([]byte{c}) + b[:l]
		b = b[l:]
	} else {
		if len(b) < 17 {
			return e, fmt.Errorf("%w: GUID", errCorrupt)
		}
		e.ref = b[:17]
		b = b[17:]
	}
	var attrs []codedAttr
	if ar != nil {
		attrs = ar.attrs
	}
	start := len(attrs)
	// coded reads n attributes listed with their codes.
	coded := func(n uint64) error {
		if n > uint64(len(b)) {
			return fmt.Errorf("%w: attribute count", errCorrupt)
		}
		for i := uint64(0); i < n; i++ {
			code, ok1 := next()
			l, ok2 := next()
			if !ok1 || !ok2 || l > uint64(len(b)) {
				return fmt.Errorf("%w: attribute %d", errCorrupt, i)
			}
			attrs = append(attrs, codedAttr{code: code, value: b[:l]})
			b = b[l:]
		}
		return nil
	}
	if legacy {
		na, ok := next()
		if !ok {
			return e, fmt.Errorf("%w: attribute count", errCorrupt)
		}
		if err := coded(na); err != nil {
			return e, err
		}
	} else {
		mask, ok := next()
		if !ok {
			return e, fmt.Errorf("%w: attribute mask", errCorrupt)
		}
		for m := mask &^ (1 << maskExtra); m != 0; m &= m - 1 {
			l, ok := next()
			if !ok || l > uint64(len(b)) {
				return e, fmt.Errorf("%w: attribute %d", errCorrupt, bits.TrailingZeros64(m))
			}
			attrs = append(attrs, codedAttr{code: uint64(bits.TrailingZeros64(m)), value: b[:l]})
			b = b[l:]
		}
		if mask&(1<<maskExtra) != 0 {
			n, ok := next()
			if !ok {
				return e, fmt.Errorf("%w: attribute count", errCorrupt)
			}
			if err := coded(n); err != nil {
				return e, err
			}
		}
	}
	e.attrs = attrs[start:len(attrs):len(attrs)]
	nk := uint64(len(b) / kidLen)
	if legacy {
		var ok bool
		if nk, ok = next(); !ok {
			return e, fmt.Errorf("%w: key count", errCorrupt)
		}
	}
	if nk*kidLen != uint64(len(b)) {
		return e, fmt.Errorf("%w: key ids", errCorrupt)
	}
	var kids []uint64
	if ar != nil {
		ar.attrs = attrs
		kids = ar.kids
	} else {
		kids = make([]uint64, 0, nk)
	}
	kstart := len(kids)
	for i := range int(nk) {
		var kb [8]byte
		copy(kb[8-kidLen:], b[i*kidLen:])
		kids = append(kids, binary.BigEndian.Uint64(kb[:]))
	}
	e.kids = kids[kstart:len(kids):len(kids)]
	if ar != nil {
		ar.kids = kids
	}
	return e, nil
}
