package scan

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/hashtab"
	"github.com/dedupegate/dedupegate/index/hugemem"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// fileIDPrefix marks the ids of in-file candidates: the row number follows. No CRM id starts
// with a NUL byte, so the source of a match is known from its id alone.
const fileIDPrefix = "\x00row:"

func fileID(row int) string { return fileIDPrefix + strconv.Itoa(row) }

// fileRow returns the row number of an in-file candidate id, or 0 for a CRM id.
func fileRow(id string) int {
	if !strings.HasPrefix(id, fileIDPrefix) {
		return 0
	}
	n, _ := strconv.Atoi(id[len(fileIDPrefix):])
	return n
}

// fileIndex holds the rows of the scanned file already read, filed under the same keys the CRM
// index uses. It is append-only: rows arrive in file order, so every key's row list is sorted,
// and a lookup for row N sees exactly the rows before N whatever has been added since.
//
// Like index.Memory it holds few pointers per row (a key is a 64-bit hash; a row's attributes
// are packed in one string), so that a file of a million rows does not cost the garbage
// collector a map per row and a string per key.
//
// As in index.Memory, a key filed for one row maps to that row itself, and only a key of two
// rows or more has a list (lists): the key table (hashtab) holds no pointers, and most lookups
// read nothing else.
type fileIndex struct {
	mu    sync.RWMutex
	seed  maphash.Seed
	keys  *hashtab.Table // key hash → oneRow | row, or the index of its list in lists
	lists [][]int32      // rows of keys filed for two rows or more, ascending
	rows  [][]fileRec    // chunks of fileChunk rows; row r is rows[r/fileChunk][r%fileChunk]
	bytes [][]byte       // the rows' strings, appended; a full buffer is never moved
}

// oneRow marks a key filed for one row: the row is the value's low 32 bits.
const oneRow = 1 << 63

const (
	fileChunk = 4096
	// bytesChunk is the largest buffer of row strings (a longer row gets one of its own).
	bytesChunk = 32 << 20
)

// fileRec is one filed row: where its strings are in bytes, one after the other: its id as
// a candidate (fileID), its id column ("" without one: the row number stands in), the
// attributes the rules read of a candidate (matcher.PackAttrs) and its prepared values
// (matcher.Record.Form). No pointers: the collector never scans the rows.
type fileRec struct {
	buf, off                      uint32
	keyLen, idLen, attrsLen, form uint32
}

// str returns n bytes of buffer buf from off as a string (the bytes never change).
func (f *fileIndex) str(buf, off, n uint32) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&f.bytes[buf][off], n)
}

// put appends a row's strings to the current buffer, the attributes packed
// (matcher.AppendPacked), and returns where they start and the packed attributes' length.
func (f *fileIndex) put(key, id string, attrs map[string]string, form string) (buf, off uint32, attrsLen int) {
	attrsLen = matcher.PackedLen(attrs)
	n := len(key) + len(id) + attrsLen + len(form)
	if len(f.bytes) == 0 || cap(f.bytes[len(f.bytes)-1])-len(f.bytes[len(f.bytes)-1]) < n {
		// Buffers double from 64 KiB to bytesChunk, advised for huge pages (hugemem): a
		// check reads earlier rows at random.
		size := 64 << 10
		if len(f.bytes) > 0 {
			size = min(2*cap(f.bytes[len(f.bytes)-1]), bytesChunk)
		}
		f.bytes = append(f.bytes, hugemem.Bytes(max(size, n)))
	}
	i := len(f.bytes) - 1
	b := f.bytes[i]
	off = uint32(len(b))
	b = append(b, key...)
	b = append(b, id...)
	b = matcher.AppendPacked(b, attrs)
	f.bytes[i] = append(b, form...)
	return uint32(i), off, attrsLen
}

func newFileIndex() *fileIndex {
	return &fileIndex{seed: maphash.MakeSeed(), keys: hashtab.New(0)}
}

// add files a batch of rows (in ascending row order, after every row already filed).
func (f *fileIndex) add(rows []*row, entries []index.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range rows {
		e := entries[i]
		if len(e.Keys) == 0 {
			continue
		}
		c, o := r.num/fileChunk, r.num%fileChunk
		for len(f.rows) <= c {
			f.rows = append(f.rows, make([]fileRec, fileChunk))
		}
		key := fileID(r.num)
		buf, off, attrsLen := f.put(key, r.id, e.Record.Attrs, e.Record.Form)
		f.rows[c][o] = fileRec{buf: buf, off: off, keyLen: uint32(len(key)), idLen: uint32(len(r.id)),
			attrsLen: uint32(attrsLen), form: uint32(len(e.Record.Form))}
		for _, k := range e.Keys {
			h := maphash.String(f.seed, k)
			v, ok := f.keys.Get(h)
			switch {
			case !ok:
				f.keys.Put(h, oneRow|uint64(r.num))
			case v&oneRow != 0:
				if int32(v) != int32(r.num) {
					f.keys.Put(h, uint64(len(f.lists)))
					f.lists = hugemem.Append(f.lists, []int32{int32(v), int32(r.num)})
				}
			default:
				// A row's keys are distinct (index.Prepare), so the row is not in the
				// list yet: appended without reading its last element (a cache miss a key).
				f.lists[v] = append(f.lists[v], int32(r.num))
			}
		}
	}
}

// id returns the display id of a filed row.
func (f *fileIndex) id(row int) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, o := row/fileChunk, row%fileChunk
	if c < len(f.rows) {
		if rec := &f.rows[c][o]; rec.idLen > 0 {
			return f.str(rec.buf, rec.off+rec.keyLen, rec.idLen)
		}
	}
	return strconv.Itoa(row)
}

// blocks returns, for each key of q, the rows before limit filed under it, at most
// q.ReadForAt(i) of them: enough to tell whether the key's block is over its maximum, and all
// that a lookup returns otherwise (reusing dst; a key's one row is kept in single, which must
// have room for one per key).
func (f *fileIndex) blocks(dst [][]int32, single []int32, q rules.Lookup, limit int) [][]int32 {
	dst, single = dst[:0], single[:0]
	f.mu.RLock()
	defer f.mu.RUnlock()
	// Every key's table entry first (hashtab.GetAll, as index.Memory does): the processor
	// overlaps their cache misses instead of waiting on each in turn.
	var hbuf, vbuf [32]uint64
	var obuf [32]bool
	hs, vs, oks := hbuf[:0], vbuf[:], obuf[:]
	if len(q.Keys) > len(hbuf) {
		hs, vs, oks = make([]uint64, 0, len(q.Keys)), make([]uint64, len(q.Keys)), make([]bool, len(q.Keys))
	}
	for _, k := range q.Keys {
		hs = append(hs, maphash.String(f.seed, k))
	}
	f.keys.GetAll(hs, vs, oks)
	// The lists of keys filed for two rows or more likewise: each list's first rows, in a
	// loop of independent loads, before the lists are read one by one.
	var touched int32
	for i := range q.Keys {
		if oks[i] && vs[i]&oneRow == 0 {
			if rows := f.lists[vs[i]]; len(rows) > 0 {
				touched ^= rows[0]
			}
		}
	}
	runtime.KeepAlive(touched)
	for i := range q.Keys {
		v, ok := vs[i], oks[i]
		switch {
		case !ok:
			dst = append(dst, nil)
		case v&oneRow != 0:
			if int(int32(v)) >= limit {
				dst = append(dst, nil)
				continue
			}
			single = append(single, int32(v))
			dst = append(dst, single[len(single)-1:len(single):len(single)])
		default:
			rows := f.lists[v]
			if read := q.ReadForAt(i); read > 0 && len(rows) > read {
				rows = rows[:read] // a common key of a long file: no search through all of it
			}
			n := len(rows)
			if n > 0 && int(rows[n-1]) >= limit { // rows filed ahead of the checked one
				n = sort.Search(n, func(i int) bool { return int(rows[i]) >= limit })
			}
			dst = append(dst, rows[:n:n])
		}
	}
	return dst
}

// records appends the rows of blocks (from blocks, for q.Keys) as candidates: per key, none
// when it is skipped, else the first q.PerKeyLimit of them (all when that is ≤ 0), each row
// once.
func (f *fileIndex) records(dst []matcher.Record, entity string, q rules.Lookup, blocks [][]int32, skipped func(i int) bool) []matcher.Record {
	var seen rowSet
	for i, rows := range blocks {
		if skipped(i) {
			continue
		}
		if perKey := q.PerKeyLimit; perKey > 0 && len(rows) > perKey {
			rows = rows[:perKey]
		}
		for _, r := range rows {
			seen.add(r)
		}
	}
	if len(seen.order) == 0 {
		return dst
	}
	dst = slices.Grow(dst, len(seen.order))
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, r := range seen.order {
		rec := &f.rows[int(r)/fileChunk][int(r)%fileChunk]
		at := rec.off
		key := f.str(rec.buf, at, rec.keyLen)
		at += rec.keyLen + rec.idLen
		attrs := f.str(rec.buf, at, rec.attrsLen)
		form := f.str(rec.buf, at+rec.attrsLen, rec.form)
		dst = append(dst, matcher.Record{Entity: entity, ID: key, Packed: attrs, Form: form})
	}
	return dst
}

// rowSet is a set of row numbers that remembers their order: a linear search while small (the
// usual lookup finds a handful), a map past that (a huge block must not cost quadratic time).
type rowSet struct {
	order []int32
	big   map[int32]struct{}
}

// add inserts r and reports whether it was new.
func (s *rowSet) add(r int32) bool {
	if s.big != nil {
		if _, ok := s.big[r]; ok {
			return false
		}
		s.big[r] = struct{}{}
		s.order = append(s.order, r)
		return true
	}
	if slices.Contains(s.order, r) {
		return false
	}
	s.order = append(s.order, r)
	if len(s.order) > 32 {
		s.big = make(map[int32]struct{}, 2*len(s.order))
		for _, x := range s.order {
			s.big[x] = struct{}{}
		}
	}
	return true
}

// checkedKey carries, in a lookup's context, the row being checked: in-file candidates must come
// before it (replay order), and the Dataverse fallback queries by its attributes.
type checkedKey struct{}

type checked struct {
	num int
	rec matcher.Record
}

func withRow(ctx context.Context, num int, rec matcher.Record) context.Context {
	return context.WithValue(ctx, checkedKey{}, checked{num: num, rec: rec})
}

// sources is the index the scan's engine reads: the CRM and the rows of the file before the
// checked one. The CRM is the live index or an exported file loaded in memory, and, when the
// index is missing or fails, the Dataverse fallback; with neither, the file is checked against
// itself only. The fallback is queried here rather than by the engine, so that the in-file
// candidates are kept when it is used.
//
// A key's block is the CRM's records and the earlier rows filed under it, as if each row had
// been imported before the next was checked: a broad key (a rule's max_block) is skipped in
// both when the two together are over its maximum (Lookup.Elsewhere, LookupResult.Skipped).
// Against the Dataverse fallback, which has no blocks, the rows' own count decides.
type sources struct {
	crm      rules.Index          // nil: none
	fallback rules.FallbackSource // nil: none
	rules    []*rules.Rule        // the rules checking the file's table (fallback queries)
	file     *fileIndex
	entity   string // table of the file's rows
	scratch  sync.Pool
}

var _ rules.Index = (*sources)(nil)

// lookupScratch is one lookup's working space, pooled.
type lookupScratch struct {
	blocks    [][]int32
	single    []int32 // the rows of keys filed for one (fileIndex.blocks)
	elsewhere map[string]int
}

// Lookup implements rules.Index.
func (s *sources) Lookup(ctx context.Context, q rules.Lookup) (rules.LookupResult, error) {
	c, ok := ctx.Value(checkedKey{}).(checked)
	if !ok {
		return rules.LookupResult{}, fmt.Errorf("scan: lookup without a row")
	}
	sc, _ := s.scratch.Get().(*lookupScratch)
	if sc == nil {
		sc = &lookupScratch{elsewhere: map[string]int{}}
	}
	defer s.scratch.Put(sc)
	if cap(sc.single) < len(q.Keys) {
		sc.single = make([]int32, 0, len(q.Keys))
	}
	sc.blocks = s.file.blocks(sc.blocks, sc.single, q, c.num)

	var out rules.LookupResult
	var err error
	union := false // the CRM answered for the keys' whole blocks
	if s.crm != nil {
		cq := q
		clear(sc.elsewhere)
		for i, k := range q.Keys {
			if n := len(sc.blocks[i]); n > 0 && q.MaxAt(i) > 0 {
				sc.elsewhere[k] = q.Elsewhere[k] + n
			}
		}
		if len(sc.elsewhere) > 0 {
			for k, n := range q.Elsewhere {
				if _, ok := sc.elsewhere[k]; !ok {
					sc.elsewhere[k] = n
				}
			}
			cq.Elsewhere = sc.elsewhere
		}
		out, err = s.crm.Lookup(ctx, cq)
		union = err == nil
	}
	if s.fallback != nil && (s.crm == nil || err != nil) {
		recs, ferr := s.fallback.Candidates(ctx, s.rules, c.rec)
		if ferr != nil {
			if err != nil {
				return rules.LookupResult{}, fmt.Errorf("%w; fallback: %w", err, ferr)
			}
			return rules.LookupResult{}, fmt.Errorf("fallback: %w", ferr)
		}
		out, err = rules.LookupResult{Records: recs}, nil
	}
	if err != nil {
		return rules.LookupResult{}, err
	}
	crmSkipped := out.Skipped
	if out.Records == nil {
		out.Records = q.Into[:0] // the CRM found none: the file's candidates go there
	}
	out.Records = s.file.records(out.Records, s.entity, q, sc.blocks, func(i int) bool {
		k := q.Keys[i]
		if union && slices.Contains(crmSkipped, k) {
			return true
		}
		if q.SkipAt(i, len(sc.blocks[i])) {
			if !slices.Contains(out.Skipped, k) {
				out.Skipped = append(out.Skipped, k)
			}
			return true
		}
		return false
	})
	return out, nil
}

// LooksUpInline implements rules.InlineLooker: with the CRM in memory (or none) and no
// Dataverse fallback, a lookup never waits on the network.
func (s *sources) LooksUpInline() bool {
	if s.fallback != nil {
		return false
	}
	if s.crm == nil {
		return true
	}
	il, ok := s.crm.(rules.InlineLooker)
	return ok && il.LooksUpInline()
}

// Release implements rules.Index. The scan never reserves keys, so there is nothing of its
// own to release; a CRM index gets the call passed on.
func (s *sources) Release(ctx context.Context, keys []string, holder string) error {
	if s.crm == nil || len(keys) == 0 {
		return nil
	}
	return s.crm.Release(ctx, keys, holder)
}

// displayID is a row's id in the output: its id column, else its row number.
func displayID(r *row) string {
	if r.id != "" {
		return r.id
	}
	return strconv.Itoa(r.num)
}
