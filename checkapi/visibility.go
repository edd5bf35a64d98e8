package checkapi

import (
	"context"
	"sync"
)

// RecordReader tells whether a user may read a record, by reading it from Dataverse
// impersonating the user (the CallerObjectId header set to the user's Entra object id). A
// record the user may not read answers false with a nil error (Dataverse's 403 or 404); an
// error means Dataverse could not answer.
type RecordReader interface {
	CanRead(ctx context.Context, callerOID, entity, id string) (bool, error)
}

// RecordReaderFunc adapts a function to RecordReader.
type RecordReaderFunc func(ctx context.Context, callerOID, entity, id string) (bool, error)

// CanRead calls f.
func (f RecordReaderFunc) CanRead(ctx context.Context, callerOID, entity, id string) (bool, error) {
	return f(ctx, callerOID, entity, id)
}

// readCache remembers visibility answers for one request (a batch often matches the same
// records many times), and collapses concurrent asks for the same record into one read.
type readCache struct {
	reader RecordReader
	oid    string
	mu     sync.Mutex
	seen   map[string]*readResult
}

type readResult struct {
	done chan struct{}
	ok   bool
	err  error
}

func newReadCache(r RecordReader, oid string) *readCache {
	return &readCache{reader: r, oid: oid, seen: map[string]*readResult{}}
}

func (c *readCache) canRead(ctx context.Context, entity, id string) (bool, error) {
	k := entity + "/" + id
	c.mu.Lock()
	if r, ok := c.seen[k]; ok {
		c.mu.Unlock()
		select {
		case <-r.done:
			return r.ok, r.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	r := &readResult{done: make(chan struct{})}
	c.seen[k] = r
	c.mu.Unlock()
	r.ok, r.err = c.reader.CanRead(ctx, c.oid, entity, id)
	close(r.done)
	return r.ok, r.err
}
