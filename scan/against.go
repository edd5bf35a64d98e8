package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"

	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// LoadStats says what LoadAgainst read.
type LoadStats struct {
	// Rows is the data rows read; Filed the records filed (rows with no value under any
	// blocking attribute cannot be found by any rule and are not filed).
	Rows  int
	Filed int
	// DuplicateIDs counts rows whose id an earlier row already had: only the last is kept.
	DuplicateIDs int
	// Bad lists the malformed rows (line and problem), which are not loaded.
	Bad []string
}

// LoadAgainst reads an export of existing records (CSV or JSON Lines, the same mapping and id
// column as the scanned file) into idx, filed with the same rules and keys the live index uses.
// Records are of table entity; a row's id is its id column, else "row N". Malformed rows are
// skipped and listed in LoadStats.Bad; a file that cannot be read as a table is an *InputError.
func LoadAgainst(ctx context.Context, set *rules.Set, entity string, in io.Reader, input Input, idx *index.Memory, progress func(int64)) (LoadStats, error) {
	var st LoadStats
	wanted := set.IndexedAttrs(entity)
	if len(wanted) == 0 {
		return st, fmt.Errorf("no rule searches table %q: nothing to load", entity)
	}
	format := input.Format
	if format == "" {
		format = InputCSV
	}
	src, err := openSource(in, sourceOptions{name: input.Name, format: format, mapping: input.Mapping,
		idColumn: input.IDColumn, wanted: wanted, ruleDesc: "rules searching " + entity})
	if err != nil {
		return st, err
	}
	workers := runtime.GOMAXPROCS(0)
	const size = 512
	type loadBatch struct {
		rows    []*row
		entries []index.Entry
		done    chan struct{}
	}
	work := make(chan *loadBatch, 2*workers)
	order := make(chan *loadBatch, 4*workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	readErr := make(chan error, 1)
	go func() {
		defer close(work)
		defer close(order)
		b := &loadBatch{done: make(chan struct{})}
		send := func() {
			order <- b
			work <- b
			b = &loadBatch{done: make(chan struct{})}
		}
		for ctx.Err() == nil {
			r, err := src.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				readErr <- err
				break
			}
			b.rows = append(b.rows, r)
			if len(b.rows) == size {
				send()
			}
		}
		if len(b.rows) > 0 {
			send()
		}
		close(readErr)
	}()
	for range workers {
		go func() {
			for b := range work {
				b.entries = make([]index.Entry, 0, len(b.rows))
				for _, r := range b.rows {
					if r.err != "" {
						continue
					}
					id := r.id
					if id == "" {
						id = "row " + strconv.Itoa(r.num)
					}
					e := index.Prepare(set, matcher.Record{Entity: entity, ID: id, Attrs: r.attrs})
					if len(e.Keys) > 0 {
						b.entries = append(b.entries, e)
					}
				}
				close(b.done)
			}
		}()
	}
	var ierr error
	for b := range order {
		<-b.done
		if ierr != nil {
			continue
		}
		for _, r := range b.rows {
			st.Rows++
			if r.err != "" {
				st.Bad = append(st.Bad, r.err)
			}
		}
		before := idx.Len()
		if err := idx.UpsertBatch(ctx, b.entries); err != nil {
			ierr = err
			cancel()
			continue
		}
		st.Filed += len(b.entries)
		st.DuplicateIDs += len(b.entries) - (idx.Len() - before)
		if progress != nil && len(b.rows) > 0 {
			progress(b.rows[len(b.rows)-1].end)
		}
	}
	if err := <-readErr; err != nil {
		return st, err
	}
	if ierr != nil {
		return st, fmt.Errorf("load %s: %w", input.Name, ierr)
	}
	return st, ctx.Err()
}
