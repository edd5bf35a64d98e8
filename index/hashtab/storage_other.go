//go:build !linux

package hashtab

// storage is the memory of a table's slots: a Go slice.
type storage struct{ words []uint64 }

func allocate(n int) *storage { return &storage{words: make([]uint64, n)} }

func (s *storage) free() {}
