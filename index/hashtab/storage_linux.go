package hashtab

import (
	"runtime"
	"syscall"
	"unsafe"
)

// mmapAt is the table size, in bytes, from which slots live outside the Go heap: below it a
// table fits in a few 4 KiB pages anyway.
const mmapAt = 4 << 20

const madvHugepage = 14 // MADV_HUGEPAGE

// storage is the memory of a table's slots: a Go slice, or an anonymous mapping.
type storage struct {
	words   []uint64
	mapped  []byte // the mapping, nil for a Go slice
	cleanup runtime.Cleanup
}

// allocate returns zeroed storage for n words. A large one is mapped outside the Go heap and
// marked for huge pages (a hint: the kernel may decline it, as with transparent_hugepage set
// to never); it is unmapped when the table moves to a larger one, or by a cleanup once the
// storage is unreachable.
func allocate(n int) *storage {
	size := n * 8
	if size < mmapAt {
		return &storage{words: make([]uint64, n)}
	}
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return &storage{words: make([]uint64, n)}
	}
	_ = syscall.Madvise(mem, madvHugepage) // a hint; without it the table works the same
	s := &storage{words: unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), n), mapped: mem}
	s.cleanup = runtime.AddCleanup(s, func(mem []byte) { _ = syscall.Munmap(mem) }, mem)
	return s
}

// free unmaps a mapping at once, rather than when the collector finds it unreachable.
func (s *storage) free() {
	if s.mapped == nil {
		return
	}
	s.cleanup.Stop() // else it would unmap the range again, perhaps another mapping by then
	_ = syscall.Munmap(s.mapped)
	s.words, s.mapped = nil, nil
}
