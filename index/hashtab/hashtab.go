// Package hashtab is a hash table of 64-bit key hashes to 64-bit values, for the in-process
// indexes, which file a million records under ten million keys or more.
//
// A Go map of that size costs two or three cache misses a lookup (its control word, its slot,
// and the translation of addresses spread over hundreds of megabytes). This table keeps a key
// and its value side by side in one 16-byte slot, probed linearly, so that a lookup usually
// reads one cache line; on Linux a large table lives outside the Go heap in memory the kernel
// may back with 2 MiB pages (madvise MADV_HUGEPAGE), which spares most address translation
// misses, and the garbage collector never scans it.
//
// Keys are expected to be hashes already (uniformly spread): the low bits choose the slot.
// The key 0 is stored as zeroKey, so the two share a value, like any two keys whose hashes
// collide. A Table is not safe for concurrent use: its owner locks.
package hashtab

import "runtime"

// zeroKey stands for the key 0, whose slot value marks an empty slot.
const zeroKey = 0x9e3779b97f4a7c15

// maxLoad is the share of slots in use above which the table doubles: linear probing stays
// short below it.
const maxLoad = 0.7

// Table maps 64-bit keys to 64-bit values.
type Table struct {
	slots []uint64 // key, value, key, value, ...; key 0: empty
	mask  uint64   // slot count - 1 (a power of two)
	n     int      // keys held
	grow  int      // n above which the table doubles
	store *storage // the memory slots live in
}

// New returns an empty table with room for about hint keys before it first grows.
func New(hint int) *Table {
	t := &Table{}
	size := 16
	for float64(size)*maxLoad < float64(hint) {
		size <<= 1
	}
	t.resize(size)
	return t
}

// Len returns the number of keys held.
func (t *Table) Len() int { return t.n }

// Get returns the value of k, and whether k is held.
func (t *Table) Get(k uint64) (v uint64, ok bool) {
	if k == 0 {
		k = zeroKey
	}
	s, mask := t.slots, t.mask
	for i := k & mask; ; i = (i + 1) & mask {
		if key := s[2*i]; key == k {
			v, ok = s[2*i+1], true
			break
		} else if key == 0 {
			break
		}
	}
	runtime.KeepAlive(t) // its storage stays mapped while s is read
	return v, ok
}

// GetAll sets vals[i] and oks[i] to what Get(keys[i]) returns, for every key (vals and oks at
// least as long as keys). The keys' home slots are first read in a loop of independent loads,
// so that their cache misses overlap (a lookup reads a dozen keys of a table far larger than
// the caches); the probes that follow find them cached.
func (t *Table) GetAll(keys, vals []uint64, oks []bool) {
	s, mask := t.slots, t.mask
	var touched uint64
	for _, k := range keys {
		if k == 0 {
			k = zeroKey
		}
		touched ^= s[2*(k&mask)]
	}
	runtime.KeepAlive(touched) // the loads are the point: kept
	for i, k := range keys {
		vals[i], oks[i] = t.Get(k)
	}
	runtime.KeepAlive(t)
}

// Put sets the value of k.
func (t *Table) Put(k, v uint64) {
	if k == 0 {
		k = zeroKey
	}
	s, mask := t.slots, t.mask
	for i := k & mask; ; i = (i + 1) & mask {
		switch s[2*i] {
		case k:
			s[2*i+1] = v
			return
		case 0:
			s[2*i], s[2*i+1] = k, v
			t.n++
			if t.n > t.grow {
				t.resize(2 * int(mask+1))
			}
			return
		}
	}
}

// Delete removes k, and reports whether it was held. The keys after it in its run move back,
// so that no lookup stops early at the hole (backward-shift deletion: no tombstones).
func (t *Table) Delete(k uint64) bool {
	if k == 0 {
		k = zeroKey
	}
	s, mask := t.slots, t.mask
	i := k & mask
	for s[2*i] != k {
		if s[2*i] == 0 {
			runtime.KeepAlive(t)
			return false
		}
		i = (i + 1) & mask
	}
	// i is the hole. Move back each following key whose home slot is not in (i, j], cyclically.
	for j := (i + 1) & mask; s[2*j] != 0; j = (j + 1) & mask {
		home := s[2*j] & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s[2*i], s[2*i+1] = s[2*j], s[2*j+1]
			i = j
		}
	}
	s[2*i], s[2*i+1] = 0, 0
	t.n--
	runtime.KeepAlive(t)
	return true
}

// resize moves the keys to a table of size slots.
func (t *Table) resize(size int) {
	old, oldStore := t.slots, t.store
	t.store = allocate(size * 2)
	t.slots = t.store.words
	t.mask = uint64(size - 1)
	t.grow = int(float64(size) * maxLoad)
	for i := 0; i < len(old); i += 2 {
		if k := old[i]; k != 0 {
			for j := k & t.mask; ; j = (j + 1) & t.mask {
				if t.slots[2*j] == 0 {
					t.slots[2*j], t.slots[2*j+1] = k, old[i+1]
					break
				}
			}
		}
	}
	if oldStore != nil {
		oldStore.free()
	}
}
