package index

import (
	"context"
	"errors"
	"time"

	"github.com/dedupegate/dedupegate/matcher"
)

// Writer keeps an index up to date with committed changes.
type Writer interface {
	// Upsert files rec under keys, replacing whatever it was filed under before: keys of an
	// earlier version that are not in keys no longer find it. rec.ID must not be empty.
	Upsert(ctx context.Context, rec matcher.Record, keys []string) error
	// Delete removes a record and its keys. Deleting an unknown record is not an error.
	Delete(ctx context.Context, entity, id string) error
}

// Entry is one record with the keys to file it under (distinct, from Prepare).
type Entry struct {
	Record matcher.Record
	Keys   []string
}

// BatchWriter files many records at once with a few round trips (sync, bulk loads). Its
// effect is that of Upsert on each entry in order.
type BatchWriter interface {
	UpsertBatch(ctx context.Context, entries []Entry) error
}

// Settler drops reservations whoever holds them. The PostOperation step calls it (through
// Commit) once the record that held a strong key is filed: from then on the record itself,
// found under its blocking keys, stands in for the reservation.
type Settler interface {
	Settle(ctx context.Context, keys []string) error
}

// Watermarks stores, with the index it describes, the latest modifiedon loaded per table: the
// point an incremental sync resumes from. A table never synced has the zero time.
type Watermarks interface {
	Watermark(ctx context.Context, table string) (time.Time, error)
	SetWatermark(ctx context.Context, table string, t time.Time) error
}

// Enumerator lists the ids of the records filed for a table, in batches of unspecified order
// and size. A full sync uses it to find records deleted without a Delete event.
type Enumerator interface {
	IDs(ctx context.Context, entity string, fn func(ids []string) error) error
}

// DefaultReservationTTL is the reservation lifetime used when a Lookup asks for reservations
// with no TTL: longer than Dataverse's 2-minute operation limit.
const DefaultReservationTTL = 3 * time.Minute

// Errors shared by the implementations.
var (
	// ErrNoID is returned by Upsert for a record without an id.
	ErrNoID = errors.New("index: record has no id")
	// ErrNoEntity is returned by Upsert for a record without a table.
	ErrNoEntity = errors.New("index: record has no entity")
	// ErrNoHolder is returned by Lookup when it is asked to reserve keys for nobody.
	ErrNoHolder = errors.New("index: reservation without a holder")
)

// CheckRecord returns ErrNoEntity or ErrNoID for a record that cannot be filed.
func CheckRecord(rec matcher.Record) error {
	if rec.Entity == "" {
		return ErrNoEntity
	}
	if rec.ID == "" {
		return ErrNoID
	}
	return nil
}
