package index

import (
	"context"
	"fmt"
	"slices"

	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// Prepare returns rec as the index files it under set: its attributes trimmed to those the
// rules read when it is a candidate, and the keys under which every rule searching its table
// finds it. No keys means that no rule can find the record (no blocking value, or no rule
// searches its table).
//
// The record also carries its form (matcher.Record.Form): its prepared values, which the
// in-process index keeps so that a candidate is not normalised again at every lookup. Indexes
// that store records elsewhere (Redis) ignore it.
func Prepare(set *rules.Set, rec matcher.Record) Entry { return PrepareEach(set, rec, nil) }

// PrepareEach is Prepare that also hands each rule's prepared values of the row, as filed, to
// each (when not nil: rules.Set.IndexEntryEach).
func PrepareEach(set *rules.Set, rec matcher.Record, each func(*rules.Rule, *matcher.Prepared)) Entry {
	rec = rec.Unpacked()
	// One copy of what the candidate rules read (their attributes, and the country that
	// chooses a phone's region), with the phones in E.164 (matcher.CanonicalRecord): phones
	// stored that way are read back without libphonenumber. It is prepared once for the
	// keys and the form, then trimmed to the attributes the index keeps.
	read := set.CandidateReadAttrsView(rec.Entity)
	attrs := make(map[string]string, len(read))
	for _, a := range read {
		if v, ok := rec.Attrs[a]; ok {
			attrs[a] = v
		}
	}
	out := matcher.Record{Entity: rec.Entity, ID: rec.ID, Attrs: attrs}
	for a, v := range matcher.CanonicalAttrs(out, set.CandidateMatchers(rec.Entity)...) {
		attrs[a] = v
	}
	keys, form := set.IndexEntryEach(out, each)
	if indexed := set.IndexedAttrsView(rec.Entity); len(indexed) < len(read) {
		for _, a := range read {
			if !slices.Contains(indexed, a) {
				delete(attrs, a)
			}
		}
	}
	out.Form = form
	return Entry{Record: out, Keys: keys}
}

// Trim returns a copy of rec holding only attrs (those it has).
func Trim(rec matcher.Record, attrs []string) matcher.Record {
	out := matcher.Record{Entity: rec.Entity, ID: rec.ID, Attrs: make(map[string]string, len(attrs)), Form: rec.Form}
	for _, a := range attrs {
		if v, ok := rec.Attrs[a]; ok {
			out.Attrs[a] = v
		}
	}
	return out
}

// File puts a committed row into the index under the current rule set (sync, PostOperation
// upkeep). A row no rule can find is removed instead, so that the keys of an earlier version
// stop finding it.
func File(ctx context.Context, w Writer, set *rules.Set, rec matcher.Record) error {
	if err := CheckRecord(rec); err != nil {
		return err
	}
	e := Prepare(set, rec)
	if len(e.Keys) == 0 {
		if err := w.Delete(ctx, rec.Entity, rec.ID); err != nil {
			return fmt.Errorf("index: unfile %s: %w", rec.Entity, err)
		}
		return nil
	}
	if err := w.Upsert(ctx, e.Record, e.Keys); err != nil {
		return fmt.Errorf("index: file %s: %w", rec.Entity, err)
	}
	return nil
}

// FileBatch is File for many rows: one UpsertBatch when w is a BatchWriter.
func FileBatch(ctx context.Context, w Writer, set *rules.Set, recs []matcher.Record) error {
	entries := make([]Entry, 0, len(recs))
	for _, rec := range recs {
		if err := CheckRecord(rec); err != nil {
			return err
		}
		e := Prepare(set, rec)
		if len(e.Keys) == 0 {
			if err := w.Delete(ctx, rec.Entity, rec.ID); err != nil {
				return fmt.Errorf("index: unfile %s: %w", rec.Entity, err)
			}
			continue
		}
		entries = append(entries, e)
	}
	if bw, ok := w.(BatchWriter); ok {
		if err := bw.UpsertBatch(ctx, entries); err != nil {
			return fmt.Errorf("index: file batch: %w", err)
		}
		return nil
	}
	for _, e := range entries {
		if err := w.Upsert(ctx, e.Record, e.Keys); err != nil {
			return fmt.Errorf("index: file %s: %w", e.Record.Entity, err)
		}
	}
	return nil
}

// Commit is the PostOperation step's upkeep for a created or updated row: File, then, when w
// is a Settler, drop the reservations of the row's strong keys, which the filed row now
// stands in for.
func Commit(ctx context.Context, w Writer, set *rules.Set, rec matcher.Record) error {
	if err := File(ctx, w, set, rec); err != nil {
		return err
	}
	s, ok := w.(Settler)
	if !ok {
		return nil
	}
	if keys := StrongKeys(set, rec); len(keys) > 0 {
		if err := s.Settle(ctx, keys); err != nil {
			return fmt.Errorf("index: settle reservations: %w", err)
		}
	}
	return nil
}

// StrongKeys returns the strong keys the engine reserves when rec is checked: those of every
// rule checking rec's table.
func StrongKeys(set *rules.Set, rec matcher.Record) []string {
	seen := map[string]bool{}
	var keys []string
	for _, r := range set.ForEntity(rec.Entity) {
		for _, k := range r.Matcher.StrongKeys(r.Matcher.Prepare(rec)) {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}
