package hugemem

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestBuffers(t *testing.T) {
	b := Bytes(8 << 20)
	if len(b) != 0 || cap(b) != 8<<20 {
		t.Fatalf("Bytes: len %d cap %d", len(b), cap(b))
	}
	b = append(b, "abc"...)
	type rec struct {
		a, b uint64
		s    string
	}
	s := Slice[rec](300_000)
	if len(s) != 300_000 || s[299_999].s != "" || s[0].a != 0 {
		t.Fatal("Slice: not n zero values")
	}
	for _, small := range []int{0, 1, 4096} {
		if got := Bytes(small); cap(got) != small {
			t.Fatalf("Bytes(%d): cap %d", small, cap(got))
		}
	}
	runtime.KeepAlive(b)
}

// TestAdvised checks, on Linux with transparent huge pages enabled, that a large buffer's
// memory is eligible for them (the kernel's own account in /proc/self/smaps).
func TestAdvised(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skip("no transparent huge pages here")
	}
	b := Bytes(16 << 20)
	start, size := aligned(unsafe.Pointer(unsafe.SliceData(b)), 16<<20)
	if size == 0 {
		t.Fatal("a 16 MiB buffer holds no whole huge page")
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := vmaRange(line); ok {
			in = lo <= start && start < hi
			continue
		}
		if in && strings.HasPrefix(line, "THPeligible:") {
			if strings.TrimSpace(strings.TrimPrefix(line, "THPeligible:")) != "1" {
				t.Fatalf("the buffer's memory is not eligible for huge pages: %q", line)
			}
			runtime.KeepAlive(b)
			return
		}
	}
	t.Skip("the kernel does not report THPeligible")
}

// vmaRange parses the "lo-hi perms ..." header line of a mapping in smaps.
func vmaRange(line string) (uintptr, uintptr, bool) {
	r, _, ok := strings.Cut(line, " ")
	if !ok {
		return 0, 0, false
	}
	l, h, ok := strings.Cut(r, "-")
	if !ok {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseUint(l, 16, 64)
	hi, err2 := strconv.ParseUint(h, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uintptr(lo), uintptr(hi), true
}

func TestAppend(t *testing.T) {
	var s []int
	for i := range 5000 {
		s = Append(s, i)
	}
	if len(s) != 5000 || cap(s) != 8192 {
		t.Fatalf("len %d cap %d, want 5000 and 8192 (1024 doubled)", len(s), cap(s))
	}
	for i, v := range s {
		if v != i {
			t.Fatalf("s[%d] = %d", i, v)
		}
	}
}
