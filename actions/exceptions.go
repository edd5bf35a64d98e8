package actions

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// PairKey is the canonical name of an unordered pair of records: "table/id|table/id", lower
// case, sorted, so that (a, b) and (b, a) are the same pair.
func PairKey(entityA, idA, entityB, idB string) string {
	a := strings.ToLower(entityA + "/" + idA)
	b := strings.ToLower(entityB + "/" + idB)
	if b < a {
		a, b = b, a
	}
	return a + "|" + b
}

// RecordRef names one record.
type RecordRef struct {
	Entity string `json:"entity"`
	ID     string `json:"id"`
}

// ParsePairKey splits a pair key into its two records.
func ParsePairKey(key string) (RecordRef, RecordRef, error) {
	left, right, ok := strings.Cut(key, "|")
	if !ok {
		return RecordRef{}, RecordRef{}, fmt.Errorf("%q is not a pair key (table/id|table/id)", key)
	}
	parse := func(s string) (RecordRef, error) {
		e, id, ok := strings.Cut(s, "/")
		if !ok || e == "" || id == "" {
			return RecordRef{}, fmt.Errorf("%q is not a record reference (table/id)", s)
		}
		return RecordRef{Entity: e, ID: id}, nil
	}
	a, err := parse(left)
	if err != nil {
		return RecordRef{}, RecordRef{}, err
	}
	b, err := parse(right)
	if err != nil {
		return RecordRef{}, RecordRef{}, err
	}
	return a, b, nil
}

// Exception is one pair marked "not a duplicate", with who marked it and from which review
// item.
type Exception struct {
	Pair string    `json:"pair"`
	At   time.Time `json:"at"`
	By   string    `json:"by,omitempty"`
	Item string    `json:"item,omitempty"`
	Rule string    `json:"rule,omitempty"`
}

// ExceptionStore keeps exceptions durably, shared by the gateway instances and the review
// command.
type ExceptionStore interface {
	// Load returns every pair key.
	Load(ctx context.Context) ([]string, error)
	// Version changes whenever the set changes; "" means unknown (Load every refresh).
	Version(ctx context.Context) (string, error)
	// Add stores an exception; adding a pair already there is not an error.
	Add(ctx context.Context, e Exception) error
}

// Exceptions is the "not a duplicate" list the engine consults on every decision
// (rules.Exceptions): an immutable in-memory set swapped atomically, so NotDuplicate is a map
// lookup with no lock and no I/O. Refresh (or Run, periodically) reloads it from the store when
// the store's version changed; Add writes through.
type Exceptions struct {
	store ExceptionStore
	log   *zap.Logger

	set     atomic.Pointer[map[string]struct{}]
	mu      sync.Mutex // serialises Refresh and Add's in-memory update
	version string
	loaded  bool
	added   map[string]struct{}
}

// NewExceptions returns an empty list over store (nil: memory only). Call Refresh to load it.
func NewExceptions(store ExceptionStore, log *zap.Logger) *Exceptions {
	if log == nil {
		log = zap.NewNop()
	}
	x := &Exceptions{store: store, log: log, added: map[string]struct{}{}}
	empty := map[string]struct{}{}
	x.set.Store(&empty)
	return x
}

// NotDuplicate implements rules.Exceptions.
func (x *Exceptions) NotDuplicate(entityA, idA, entityB, idB string) bool {
	if idA == "" || idB == "" {
		return false
	}
	set := *x.set.Load()
	if len(set) == 0 {
		return false
	}
	// The decision path calls this per candidate: build the key in a stack buffer (Go looks
	// maps up by string(bytes) without allocating) instead of PairKey's strings.
	var buf [160]byte
	a := appendRef(buf[:0], entityA, idA)
	n := len(a)
	b := appendRef(a, entityB, idB)
	left, right := b[:n], b[n:]
	if string(right) < string(left) {
		left, right = right, left
	}
	var key [162]byte
	k := append(append(append(key[:0], left...), '|'), right...)
	_, ok := set[string(k)]
	return ok
}

// appendRef appends "table/id" in lower case.
func appendRef(dst []byte, entity, id string) []byte {
	for _, s := range []string{entity, "/", id} {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
	}
	return dst
}

// Has reports whether a pair key is in the list.
func (x *Exceptions) Has(pair string) bool {
	_, ok := (*x.set.Load())[pair]
	return ok
}

// Len returns the number of pairs held.
func (x *Exceptions) Len() int { return len(*x.set.Load()) }

// Add stores e and adds its pair to the in-memory set.
func (x *Exceptions) Add(ctx context.Context, e Exception) error {
	a, b, err := ParsePairKey(e.Pair)
	if err != nil {
		return err
	}
	e.Pair = PairKey(a.Entity, a.ID, b.Entity, b.ID)
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if x.store != nil {
		if err := x.store.Add(ctx, e); err != nil {
			return fmt.Errorf("storing the exception: %w", err)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.added[e.Pair] = struct{}{}
	cur := *x.set.Load()
	if _, ok := cur[e.Pair]; ok {
		return nil
	}
	next := make(map[string]struct{}, len(cur)+1)
	for k := range cur {
		next[k] = struct{}{}
	}
	next[e.Pair] = struct{}{}
	x.set.Store(&next)
	return nil
}

// Refresh reloads the set from the store if the store's version changed since the last load.
func (x *Exceptions) Refresh(ctx context.Context) error {
	if x.store == nil {
		return nil
	}
	v, err := x.store.Version(ctx)
	if err != nil {
		return fmt.Errorf("exceptions store: %w", err)
	}
	x.mu.Lock()
	unchanged := x.loaded && v != "" && v == x.version
	x.mu.Unlock()
	if unchanged {
		return nil
	}
	keys, err := x.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("exceptions store: %w", err)
	}
	next := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if a, b, err := ParsePairKey(k); err == nil {
			next[PairKey(a.Entity, a.ID, b.Entity, b.ID)] = struct{}{}
		}
	}
	x.mu.Lock()
	// Pairs added by this process stay even if the store does not show them yet (the
	// Dataverse store sees a dismissal only once the task is closed); pairs removed from the
	// store by an admin go.
	for k := range x.added {
		next[k] = struct{}{}
	}
	x.set.Store(&next)
	x.version, x.loaded = v, true
	x.mu.Unlock()
	return nil
}

// Run refreshes every interval until ctx ends. A failed refresh keeps the current set and is
// logged; the engine keeps deciding with what it has.
func (x *Exceptions) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := x.Refresh(ctx); err != nil && ctx.Err() == nil {
				x.log.Warn("exceptions refresh failed; keeping the current list", zap.Error(err), zap.Int("pairs", x.Len()))
			}
		}
	}
}
