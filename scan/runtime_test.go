package scan

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneRuntime: the scan's collector target applies when GOGC is unset, and GOGC wins when
// it is set.
func TestTuneRuntime(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	if v, set := os.LookupEnv("GOGC"); set {
		t.Setenv("GOGC", v) // restored after the test
	}
	os.Unsetenv("GOGC")
	if got := TuneRuntime(); got != "200" {
		t.Fatalf("TuneRuntime without GOGC reports %q, want 200", got)
	}
	if p := debug.SetGCPercent(100); p != GCPercent {
		t.Fatalf("GC percent %d after TuneRuntime, want %d", p, GCPercent)
	}
	t.Setenv("GOGC", "150")
	if got := TuneRuntime(); got != "150" {
		t.Fatalf("TuneRuntime with GOGC=150 reports %q", got)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Fatalf("GC percent %d with GOGC set, want it left alone (100)", p)
	}
}
