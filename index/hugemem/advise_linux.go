package hugemem

import (
	"syscall"
	"unsafe"
)

const madvHugepage = 14 // MADV_HUGEPAGE

// advise asks the kernel to back the whole huge pages of [p, p+n) with huge pages.
func advise(p unsafe.Pointer, n uintptr) {
	start, size := aligned(p, n)
	if size == 0 {
		return
	}
	// The memory is the caller's and stays mapped: only the advice changes. An error (a kernel
	// without transparent huge pages) leaves the pages as they were.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, start, size, madvHugepage)
}
