package emulator

import (
	"strings"
	"sync"

	"github.com/dedupegate/dedupegate/dataverse"
)

// store holds every table's rows in memory. Its lock is held only while rows are read or
// swapped, never while a webhook is called, so that concurrent writes run their pipelines
// concurrently as in Dataverse.
type store struct {
	mu      sync.RWMutex
	tables  map[string]*tableData // by logical name
	bySet   map[string]*tableData // by entity set name
	seq     int64
	version int64
}

type tableData struct {
	def  *Table
	rows map[string]*row
	// order lists every id ever inserted, by seq (ascending: seq only grows). Deleted ids stay
	// in it and are skipped. It lets a page in the default order be read without scanning and
	// sorting the whole table for every page.
	order []orderEntry
}

type orderEntry struct {
	seq int64
	id  string
}

func newStore() *store {
	return &store{tables: map[string]*tableData{}, bySet: map[string]*tableData{}}
}

// addTable declares a table (replacing a declaration with the same logical name; its rows are
// kept).
func (s *store) addTable(t Table) *tableData {
	t.complete()
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.tables[t.LogicalName]
	if td == nil {
		td = &tableData{rows: map[string]*row{}}
	} else {
		delete(s.bySet, td.def.EntitySetName)
	}
	def := t
	td.def = &def
	s.tables[t.LogicalName] = td
	s.bySet[t.EntitySetName] = td
	return td
}

func (s *store) table(logical string) *tableData {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tables[logical]
}

func (s *store) tableBySet(set string) *tableData {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bySet[set]
}

// get returns the current row (an immutable snapshot) or nil.
func (s *store) get(logical, id string) *row {
	s.mu.RLock()
	defer s.mu.RUnlock()
	td := s.tables[logical]
	if td == nil {
		return nil
	}
	return td.rows[strings.ToLower(id)]
}

// insert stores a new row; 412 when the id is taken.
func (s *store) insert(logical string, attrs map[string]any) (*row, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.tables[logical]
	id := attrs[td.def.PrimaryIDAttribute].(string)
	if _, exists := td.rows[id]; exists {
		// The status Dataverse gives a create with a taken id: 412 with "Cannot insert duplicate
		// key" is what the emulator answers (UNCONFIRMED).
		return nil, &apiError{status: 412, code: codeDuplicateKey, message: "A record with matching key values already exists."}
	}
	s.seq++
	s.version++
	attrs["versionnumber"] = jsonInt(s.version)
	r := &row{id: id, seq: s.seq, version: s.version, attrs: attrs}
	td.rows[id] = r
	td.order = append(td.order, orderEntry{seq: r.seq, id: id})
	return r, nil
}

// update applies change to the current row under the lock and stores the result. change gets
// a copy of the current attributes and returns an error to refuse the write.
func (s *store) update(logical, id string, change func(cur *row, attrs map[string]any) *apiError) (before, after *row, err *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.tables[logical]
	cur := td.rows[id]
	if cur == nil {
		return nil, nil, notFound(logical, id)
	}
	attrs := cur.clone()
	if err := change(cur, attrs); err != nil {
		return nil, nil, err
	}
	s.version++
	attrs["versionnumber"] = jsonInt(s.version)
	next := &row{id: id, seq: cur.seq, version: s.version, attrs: attrs}
	td.rows[id] = next
	return cur, next, nil
}

// remove deletes a row and returns it.
func (s *store) remove(logical, id string) (*row, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.tables[logical]
	cur := td.rows[id]
	if cur == nil {
		return nil, notFound(logical, id)
	}
	delete(td.rows, id)
	return cur, nil
}

// restore undoes a write (a failed synchronous PostOperation step rolls the transaction back):
// it puts old back (or removes the row when old is nil) if the row is still the one the write
// produced.
func (s *store) restore(logical, id string, old, written *row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	td := s.tables[logical]
	if td.rows[id] != written {
		return
	}
	if old == nil {
		delete(td.rows, id)
		return
	}
	td.rows[id] = old
}

// primaryName returns the primary name of a referenced row, for annotations.
func (s *store) primaryName(ref *dataverse.EntityReference) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	td := s.tables[ref.LogicalName]
	if td == nil {
		return ""
	}
	r := td.rows[ref.ID]
	if r == nil {
		return ""
	}
	n, _ := r.attrs[td.def.PrimaryNameAttribute].(string)
	return n
}
