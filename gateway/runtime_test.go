package gateway

import (
	"os"
	"runtime/debug"
	"testing"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
)

// TestTuneRuntime: serve raises the collector's target for a Redis-backed gateway, leaves it for
// the in-process index (whose heap is the index), and never overrides GOGC from the
// environment.
func TestTuneRuntime(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	t.Setenv("GOGC", "") // restored after the test
	for _, tc := range []struct {
		name    string
		backend string
		env     string // "": GOGC unset
		want    int
	}{
		{"redis", "redis", "", RedisGCPercent},
		{"memory", "memory", "", 100},
		{"redis, GOGC set", "redis", "150", 100},
	} {
		debug.SetGCPercent(100)
		if tc.env == "" {
			if err := os.Unsetenv("GOGC"); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Setenv("GOGC", tc.env)
		}
		cfg := &config.Config{}
		cfg.Index.Backend = tc.backend
		TuneRuntime(cfg, zap.NewNop())
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("%s: GC percent %d, want %d", tc.name, got, tc.want)
		}
	}
}
