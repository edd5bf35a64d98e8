package redisindex

import (
	"sync"
	"testing"
)

func TestBigKeys(t *testing.T) {
	var b bigKeys
	kids := make([]uint64, 70)
	for i := range kids {
		kids[i] = uint64(1000 + i)
	}
	if b.known(kids) != 0 || b.has(kids[0]) {
		t.Fatal("an empty set knows a key")
	}
	for _, i := range []int{0, 5, 63, 64, 69} {
		b.add(kids[i])
	}
	b.add(kids[5]) // again
	if got, want := b.known(kids), uint64(1|1<<5|1<<63); got != want {
		t.Fatalf("known = %b, want %b (the first 64 ids only)", got, want)
	}
	for i, k := range kids {
		want := i == 0 || i == 5 || i == 63 || i == 64 || i == 69
		if b.has(k) != want {
			t.Fatalf("has(kids[%d]) = %v", i, !want)
		}
	}
	// Concurrent readers and writers (the race detector checks the locking).
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				b.add(uint64(g*1000 + i))
				b.known(kids)
			}
		})
	}
	wg.Wait()
	b.clear()
	if b.has(kids[0]) || b.known(kids) != 0 {
		t.Fatal("clear kept a key")
	}
}
