package redisindex_test

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/synth"
)

// BenchmarkDecide is one webhook decision's engine work on the Redis index, the path that
// scripts/bench.sh loads, without HTTP: synthetic contacts (synth.People, as the load
// benchmark files them) in a private redis-server under the shipped rules, then decisions on
// creates of which 30% re-enter an indexed person and 70% are new people, with strong keys
// reserved. It reports the gateway-side time and allocations per decision, Redis commands and
// candidates per decision: steadier figures than the load benchmark's on a shared machine.
//
//	go test ./index/redisindex -run '^$' -bench BenchmarkDecide -benchtime 5000x
//
// DEDUPEGATE_BENCH_RECORDS changes the indexed count (default 100,000).
func BenchmarkDecide(b *testing.B) {
	n := benchRecords(b, 100_000)
	set := shippedRules(b)
	rt := &cmdCounter{}
	opts := []redisindex.Option{redisindex.WithHook(rt)}
	// DEDUPEGATE_BENCH_LOOKUP_TRIPS: lookup round trips in flight before lookups share them
	// (redisindex.WithLookupTrips); a large number shares none.
	if v, err := strconv.Atoi(os.Getenv("DEDUPEGATE_BENCH_LOOKUP_TRIPS")); err == nil && v > 0 {
		opts = append(opts, redisindex.WithLookupTrips(v))
	}
	x, addr := synthIndex(b, set, n, opts...)
	ctx := b.Context()
	gen := synth.People{Seed: 1}

	// The payloads' records, as the load benchmark makes them.
	r := rand.New(rand.NewPCG(1, 99))
	probes := make([]matcher.Record, 2000)
	for k := range probes {
		if r.Float64() < 0.3 {
			probes[k] = gen.Duplicate(r.IntN(n), uint64(k))
			continue
		}
		p := gen.Person(n + 1 + r.IntN(1<<30))
		p.ID = ""
		delete(p.Attrs, "fullname")
		if e, ok := p.Attrs["emailaddress1"]; ok {
			at := strings.IndexByte(e, '@')
			p.Attrs["emailaddress1"] = e[:at] + "." + strconv.Itoa(k) + e[at:]
		}
		probes[k] = p
	}
	e := rules.NewEngine(set, x, rules.EngineConfig{Reservations: true})
	// Each probe keeps its holder throughout, as Dataverse's retries of one save do, so that
	// a new person's reservation from an earlier pass does not block it. A first pass warms
	// the candidate cache and the connection pool, as the load benchmark's warm-up does.
	for k, p := range probes {
		e.Decide(ctx, rules.Request{Record: p, Message: "Create", EntryPoint: rules.EntryForm, Holder: "h" + strconv.Itoa(k)})
	}
	rc := redistest.Client(b, addr)
	// sequential: one decision at a time (every round trip waits, as at a low rate);
	// parallel: 16 in flight (as at the load benchmark's peak).
	for _, par := range []int{0, 8} {
		name := "sequential"
		if par > 0 {
			name = "parallel" + strconv.Itoa(par*runtime.GOMAXPROCS(0))
		}
		b.Run(name, func(b *testing.B) {
			var seq, candidates, blocks atomic.Int64
			decide := func() {
				k := int(seq.Add(1)) % len(probes)
				d := e.Decide(ctx, rules.Request{Record: probes[k], Message: "Create", EntryPoint: rules.EntryForm, Holder: "h" + strconv.Itoa(k)})
				if d.Fallback != "" {
					b.Errorf("fallback: %s", d.Error)
				}
				candidates.Add(int64(d.Candidates))
				if d.Outcome == rules.OutcomeBlock {
					blocks.Add(1)
				}
			}
			redisCPU0, ownCPU0 := redisCPU(b, rc.Info(ctx, "cpu").Val()), processCPU(b)
			rt.reset()
			b.ReportAllocs()
			b.ResetTimer()
			if par == 0 {
				for range b.N {
					decide()
				}
			} else {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						decide()
					}
				})
			}
			b.StopTimer()
			n := float64(b.N)
			redisCPU1, ownCPU1 := redisCPU(b, rc.Info(ctx, "cpu").Val()), processCPU(b)
			b.ReportMetric(float64((ownCPU1-ownCPU0).Microseconds())/n, "cpu-µs/decision")
			b.ReportMetric(float64((redisCPU1-redisCPU0).Microseconds())/n, "redis-cpu-µs/decision")
			b.ReportMetric(float64(rt.cmds.Load())/n, "cmds/decision")
			b.ReportMetric(float64(rt.trips.Load())/n, "roundtrips/decision")
			b.ReportMetric(float64(candidates.Load())/n, "candidates/decision")
			b.ReportMetric(float64(blocks.Load())/n, "blocked/decision")
		})
	}
}

// cmdCounter counts round trips and the commands they carry.
type cmdCounter struct{ trips, cmds atomic.Int64 }

func (c *cmdCounter) reset() { c.trips.Store(0); c.cmds.Store(0) }

func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(1)
		return next(ctx, cmd)
	}
}

func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.trips.Add(1)
		c.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// processCPU is this process's CPU time so far (user and system).
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is redis-server's CPU time so far, from INFO cpu (main thread and children).
func redisCPU(tb testing.TB, info string) time.Duration {
	var total float64
	for _, line := range strings.Split(info, "\n") {
		for _, f := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), f); ok {
				s, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatal(err)
				}
				total += s
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// synthIndex files n synthetic contacts (synth.People, seed 1, as the load benchmark files
// them) under set in a private redis-server, and returns the index and the server's address.
func synthIndex(b *testing.B, set *rules.Set, n int, opts ...redisindex.Option) (*redisindex.Index, string) {
	b.Helper()
	srv := redistest.Start(b)
	x, err := redisindex.New(config.Redis{Addrs: []string{srv.Addr}, Prefix: "dg:",
		ReadTimeout: config.Duration(10 * time.Second), WriteTimeout: config.Duration(10 * time.Second)},
		append([]redisindex.Option{redisindex.WithBatchSize(1000)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { x.Close() })
	gen := synth.People{Seed: 1}
	recs := make([]matcher.Record, 0, 2000)
	for i := range n {
		recs = append(recs, gen.Person(i))
		if len(recs) == cap(recs) || i == n-1 {
			if err := index.FileBatch(b.Context(), x, set, recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	return x, srv.Addr
}
