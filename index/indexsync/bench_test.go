package indexsync_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index/indexsync"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/rules"
)

// BenchmarkSyncFromEmulator measures a full load of contacts from the Dataverse emulator over
// loopback HTTP (the real client, 5000-row pages) into a private redis-server, and prints the
// rate. Run it with:
//
//	go test ./index/indexsync -run '^$' -bench BenchmarkSyncFromEmulator -benchtime 1x
//
// DEDUPEGATE_BENCH_ROWS changes the row count (default 200,000).
func BenchmarkSyncFromEmulator(b *testing.B) {
	n := 200_000
	if v := os.Getenv("DEDUPEGATE_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("DEDUPEGATE_BENCH_ROWS=%q", v)
		}
	}
	h := start(b)
	for i := 0; i < n; i++ {
		h.insert(b, i)
	}
	srv := redistest.Start(b)
	x, err := redisindex.New(config.Redis{Addrs: []string{srv.Addr}, Prefix: "dg:",
		ReadTimeout: config.Duration(30 * time.Second), WriteTimeout: config.Duration(30 * time.Second)},
		redisindex.WithBatchSize(1000))
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	s := indexsync.New(h.client, x, func() *rules.Set { return h.set })
	b.ResetTimer()
	res, err := s.Sync(b.Context(), "contact", true)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Rows != n {
		b.Fatalf("loaded %d rows of %d", res.Rows, n)
	}
	b.ReportMetric(res.Rate(), "rows/s")
	fmt.Printf("sync: %d rows from the emulator into Redis in %v: %.0f rows/s\n", res.Rows, res.Took.Round(time.Millisecond), res.Rate())
}
