package hashtab

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// check compares t with the model, key by key, both ways.
func check(t *testing.T, tab *Table, model map[uint64]uint64, absent []uint64) {
	t.Helper()
	if tab.Len() != len(model) {
		t.Fatalf("Len %d, want %d", tab.Len(), len(model))
	}
	for k, want := range model {
		if v, ok := tab.Get(k); !ok || v != want {
			t.Fatalf("Get(%#x) = %d, %v; want %d", k, v, ok, want)
		}
	}
	for _, k := range absent {
		if _, held := model[k]; held {
			continue
		}
		if v, ok := tab.Get(k); ok {
			t.Fatalf("Get(%#x) = %d for a key not held", k, v)
		}
	}
	// GetAll answers as Get, for held and absent keys mixed, in a few batches.
	var keys []uint64
	for k := range model {
		keys = append(keys, k)
		if len(keys) == 200 {
			break
		}
	}
	keys = append(keys, absent[:min(len(absent), 200)]...)
	for start := 0; start < len(keys); start += 13 {
		batch := keys[start:min(start+13, len(keys))]
		vals, oks := make([]uint64, len(batch)), make([]bool, len(batch))
		tab.GetAll(batch, vals, oks)
		for i, k := range batch {
			if v, ok := tab.Get(k); v != vals[i] || ok != oks[i] {
				t.Fatalf("GetAll: key %#x gave %d, %v; Get gives %d, %v", k, vals[i], oks[i], v, ok)
			}
		}
	}
}

func TestAgainstMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys int
		key  func(r *rand.Rand) uint64
	}{
		{"random keys", 5000, func(r *rand.Rand) uint64 { return r.Uint64() }},
		// The same low bits: one long run that wraps around the end of the table, where the
		// backward shift of a deletion is easiest to get wrong.
		{"colliding keys", 300, func(r *rand.Rand) uint64 { return r.Uint64()<<12 | 0xff0 }},
		{"small keys and zero", 200, func(r *rand.Rand) uint64 { return r.Uint64N(400) }},
		{"past the mapping size", 400_000, func(r *rand.Rand) uint64 { return r.Uint64() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			tab := New(0)
			model := map[uint64]uint64{}
			var keys []uint64
			for i := range tc.keys {
				k := tc.key(r)
				keys = append(keys, k)
				tab.Put(k, uint64(i))
				model[k] = uint64(i)
			}
			if k := uint64(zeroKey); tc.name == "small keys and zero" {
				// 0 and zeroKey are one key.
				tab.Put(0, 7)
				if v, ok := tab.Get(k); !ok || v != 7 {
					t.Fatalf("Get(zeroKey) after Put(0) = %d, %v", v, ok)
				}
				tab.Delete(k)
				model[0] = 7
				tab.Put(0, 7)
			}
			absent := make([]uint64, 1000)
			for i := range absent {
				absent[i] = tc.key(r)
			}
			check(t, tab, model, absent)
			// Delete in random order, overwrite some, and check as the table empties.
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for i, k := range keys {
				_, held := model[k]
				if got := tab.Delete(k); got != held {
					t.Fatalf("Delete(%#x) = %v, want %v", k, got, held)
				}
				delete(model, k)
				if i%3 == 0 && i+1 < len(keys) {
					tab.Put(keys[i+1], uint64(i))
					model[keys[i+1]] = uint64(i)
				}
				if i%(1+len(keys)/10) == 0 {
					check(t, tab, model, keys[:i+1])
				}
			}
			for k := range model {
				tab.Delete(k)
			}
			check(t, tab, map[uint64]uint64{}, keys)
		})
	}
}

// FuzzTable runs a sequence of puts and deletes read from the input against a map.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0xf0, 2, 0, 0, 0, 0, 0, 0, 0, 0xf0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tab := New(0)
		model := map[uint64]uint64{}
		var keys []uint64
		for len(ops) >= 3 {
			op, raw := ops[0], ops[1:3]
			ops = ops[3:]
			// Keys from two bytes, spread over the high bits, with many sharing low bits.
			k := uint64(binary.LittleEndian.Uint16(raw))
			k = k<<40 | k&0x7
			switch op % 3 {
			case 0, 1:
				tab.Put(k, uint64(len(keys)))
				model[k] = uint64(len(keys))
				keys = append(keys, k)
			case 2:
				_, held := model[k]
				if tab.Delete(k) != held {
					t.Fatalf("Delete(%#x) disagrees with the map", k)
				}
				delete(model, k)
			}
		}
		check(t, tab, model, keys)
	})
}

// BenchmarkGet looks up random keys, half of them held, in a table of 10M keys and in a Go map
// of the same keys: ns/op is one lookup.
//
//	go test ./index/hashtab -run '^$' -bench Get -benchtime 2000000x
func BenchmarkGet(b *testing.B) {
	const n = 10_000_000
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = r.Uint64()
	}
	probe := make([]uint64, 1<<20)
	for i := range probe {
		probe[i] = keys[r.IntN(n)]
		if i%2 == 1 {
			probe[i] = r.Uint64()
		}
	}
	b.Run("hashtab", func(b *testing.B) {
		tab := New(n)
		for i, k := range keys {
			tab.Put(k, uint64(i))
		}
		b.ResetTimer()
		var sum uint64
		for i := range b.N {
			v, _ := tab.Get(probe[i&(len(probe)-1)])
			sum += v
		}
		sink = sum
	})
	b.Run("go-map", func(b *testing.B) {
		m := make(map[uint64]uint64, n)
		for i, k := range keys {
			m[k] = uint64(i)
		}
		b.ResetTimer()
		var sum uint64
		for i := range b.N {
			sum += m[probe[i&(len(probe)-1)]]
		}
		sink = sum
	})
}

// sink keeps the benchmarks' sums alive.
var sink uint64
