package scan

import (
	"os"
	"runtime/debug"
	"strconv"
	"testing"
)

// TestTuneRuntime: the scan's collector target applies when GOGC is unset, and GOGC wins when
// it is set.
func TestTuneRuntime(t *testing.T) {
	before := debug.SetGCPercent(37) // neither the default nor GCPercent: a change shows
	t.Cleanup(func() { debug.SetGCPercent(before) })

	if v, set := os.LookupEnv("GOGC"); set {
		t.Setenv("GOGC", v) // restored after the test
	}
	os.Unsetenv("GOGC")
	if got, want := TuneRuntime(), strconv.Itoa(GCPercent); got != want {
		t.Fatalf("TuneRuntime without GOGC reports %q, want %s", got, want)
	}
	if p := debug.SetGCPercent(37); p != GCPercent {
		t.Fatalf("GC percent %d after TuneRuntime, want %d", p, GCPercent)
	}
	t.Setenv("GOGC", "150")
	if got := TuneRuntime(); got != "150" {
		t.Fatalf("TuneRuntime with GOGC=150 reports %q", got)
	}
	if p := debug.SetGCPercent(37); p != 37 {
		t.Fatalf("GC percent %d with GOGC set, want it left alone (37)", p)
	}
}
