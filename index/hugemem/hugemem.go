// Package hugemem allocates the in-process indexes' large buffers in the Go heap, advised for
// transparent huge pages.
//
// An index of a million records is read at random: nearly every candidate's form is a cache
// miss, and with 4 KiB pages an address-translation miss too. Linux backs memory with 2 MiB
// pages where a process asks for them (madvise MADV_HUGEPAGE), or everywhere when
// transparent_hugepage is set to "always"; the Go runtime does not ask for its heap. These
// buffers are ordinary Go memory (the collector frees them, strings over them keep them
// alive), advised before their first use. The advice is a hint: where the kernel declines it,
// or on other systems, nothing changes but the speed.
package hugemem

import "unsafe"

// pageSize is the size of a transparent huge page on the systems that have them (x86-64,
// arm64 with 4 KiB base pages).
const pageSize = 2 << 20

// Bytes returns a zero-length byte slice with capacity n, advised for huge pages when it is
// large enough to hold one.
func Bytes(n int) []byte {
	b := make([]byte, 0, n)
	if n >= 2*pageSize {
		advise(unsafe.Pointer(unsafe.SliceData(b)), uintptr(n))
	}
	return b
}

// Slice returns a slice of n zero values of T, advised for huge pages when it is large enough
// to hold one.
func Slice[T any](n int) []T {
	s := make([]T, n)
	var zero T
	if size := uintptr(n) * unsafe.Sizeof(zero); size >= 2*pageSize {
		advise(unsafe.Pointer(unsafe.SliceData(s)), size)
	}
	return s
}

// aligned returns the part of [p, p+n) made of whole huge pages.
func aligned(p unsafe.Pointer, n uintptr) (uintptr, uintptr) {
	start := (uintptr(p) + pageSize - 1) &^ (pageSize - 1)
	end := (uintptr(p) + n) &^ (pageSize - 1)
	if end <= start {
		return 0, 0
	}
	return start, end - start
}

// Append is append(s, v) for a slice that grows large: when s is full it moves to a slice of
// twice the capacity (at least 1024) from Slice, advised for huge pages.
func Append[T any](s []T, v T) []T {
	if len(s) == cap(s) {
		grown := Slice[T](max(1024, 2*cap(s)))
		copy(grown, s)
		s = grown[:len(s)]
	}
	return append(s, v)
}
