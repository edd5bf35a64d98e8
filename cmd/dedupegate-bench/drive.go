package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dedupegate/dedupegate/synth"
	"github.com/redis/go-redis/v9"
)

// Markers in a payload template, overwritten per request: the correlation, request and
// operation ids (so that every request is a distinct save, with its own reservation holder)
// and, for a new person, part of the email (so that a new person is new every time, even when
// the template comes round again).
const (
	markCorr  = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
	markReq   = "rrrrrrrr-rrrr-4rrr-8rrr-rrrrrrrrrrrr"
	markOp    = "oooooooo-oooo-4ooo-8ooo-oooooooooooo"
	markEmail = "eeeeeeeeee"
)

// template is one payload with the offsets of its markers.
type template struct {
	body    []byte
	offsets [][2]int // offset, marker kind (0 corr, 1 req, 2 op, 3 email)
	dup     bool
}

func newTemplate(rec []byte, dup bool) template {
	t := template{body: rec, dup: dup}
	for kind, m := range []string{markCorr, markReq, markOp, markEmail} {
		for off := 0; ; {
			i := bytes.Index(rec[off:], []byte(m))
			if i < 0 {
				break
			}
			t.offsets = append(t.offsets, [2]int{off + i, kind})
			off += i + len(m)
		}
	}
	return t
}

// render copies the template with fresh ids for request n.
func (t template) render(n uint64) []byte {
	b := slices.Clone(t.body)
	for _, o := range t.offsets {
		var s string
		switch o[1] {
		case 3:
			s = fmt.Sprintf("%010d", n%10_000_000_000)
		default:
			s = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(n), uint16(n>>32), o[1], (n>>48)&0xfff, (n*0x9e3779b97f4a7c15)&(1<<48-1))
		}
		copy(b[o[0]:], s)
	}
	return b
}

// templates builds count payloads: dupShare of them re-entries of indexed people (0..n-1),
// the rest new people.
func templates(gen synth.People, n, count int, dupShare float64, seed uint64) []template {
	r := rand.New(rand.NewPCG(seed, 99))
	out := make([]template, count)
	user := "75c2dd85-e89e-e711-8122-000d3aa2331c"
	for k := range out {
		if r.Float64() < dupShare {
			rec := gen.Duplicate(r.IntN(n), uint64(k))
			out[k] = newTemplate(payload(rec, user), true)
			continue
		}
		rec := gen.Person(n + 1 + r.IntN(1<<30))
		rec.ID = ""
		delete(rec.Attrs, "fullname")
		if e, ok := rec.Attrs["emailaddress1"]; ok {
			at := strings.IndexByte(e, '@')
			rec.Attrs["emailaddress1"] = e[:at] + "." + markEmail + e[at:]
		}
		out[k] = newTemplate(payload(rec, user), false)
	}
	return out
}

// result is one request's outcome.
type result struct {
	lat     time.Duration
	outcome byte // a allow, w warn, b block, e error
	due     time.Time
}

type phase struct {
	name    string
	target  string
	results []result
	elapsed time.Duration
}

type driver struct {
	client *http.Client
	secret string
	tpl    []template
	seq    atomic.Uint64
}

// do sends one payload over w and classifies the answer.
func (d *driver) do(w *wire) result {
	n := d.seq.Add(1)
	body := d.tpl[int(n)%len(d.tpl)].render(n)
	start := time.Now()
	status, rb, err := w.post(body)
	lat := time.Since(start)
	switch {
	case err != nil:
		return result{lat: lat, outcome: 'e'}
	case status == http.StatusConflict && bytes.Contains(rb, []byte(`"result":"block"`)):
		return result{lat: lat, outcome: 'b'}
	case status == http.StatusOK && bytes.Contains(rb, []byte(`"result":"warn"`)):
		return result{lat: lat, outcome: 'w'}
	case status == http.StatusOK:
		return result{lat: lat, outcome: 'a'}
	}
	return result{lat: lat, outcome: 'e'}
}

// maxLate bounds how late a fixed-rate request may start: past it, the server cannot keep the
// rate and the request is counted as an overrun instead of being sent.
const maxLate = 5 * time.Second

// fixedSenders is how many requests the fixed-rate phase can have in flight: a stall of the
// server shorter than fixedSenders/rate leaves the schedule untouched.
const fixedSenders = 128

// fixedRate sends rate requests per second for dur, open loop: request i is due at
// start+i/rate whatever happened to the others, and its latency counts from when it was due,
// so that a stall shows in the percentiles instead of slowing the sender down. Each idle sender
// takes the next due time; senders take the connection returned last (as an HTTP
// client's pool does), so that a few warm connections carry the load, not 128 cold ones.
func (d *driver) fixedRate(ctx context.Context, u string, rate int, dur time.Duration) phase {
	total := int(dur.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	out := make([]result, total)
	pool := &wirePool{target: u, secret: d.secret}
	defer pool.close()
	var wg sync.WaitGroup
	var next atomic.Int64
	start := time.Now()
	// Each sender takes the next request of the schedule, sleeps until it is due and sends it:
	// one wake-up per request, no hand-off between a pacer and the sender (on two cores shared
	// with the gateway, each hand-off was CPU taken from the server being measured).
	for range fixedSenders {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if ctx.Err() != nil {
					out[i] = result{outcome: 'e', due: due}
					continue
				}
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				if late := time.Since(due); late > maxLate {
					// The server has fallen so far behind that the rest of the schedule is
					// moot: count the request as failed (overrun) instead of sending it.
					out[i] = result{lat: late, outcome: 'o', due: due}
					continue
				}
				w, err := pool.get()
				if err != nil {
					out[i] = result{outcome: 'e', due: due}
					continue
				}
				r := d.do(w)
				pool.put(w)
				r.lat = time.Since(due)
				r.due = due
				out[i] = r
			}
		})
	}
	wg.Wait()
	return phase{results: out, elapsed: time.Since(start)}
}

// wirePool keeps idle senders' connections, handing out the one returned last.
type wirePool struct {
	target, secret string
	mu             sync.Mutex
	idle, all      []*wire
}

func (p *wirePool) get() (*wire, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return w, nil
	}
	w, err := newWire(p.target, p.secret)
	if err != nil {
		return nil, err
	}
	p.all = append(p.all, w)
	return w, nil
}

func (p *wirePool) put(w *wire) {
	p.mu.Lock()
	p.idle = append(p.idle, w)
	p.mu.Unlock()
}

func (p *wirePool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.all {
		w.close()
	}
}

// stalls counts the answered requests slower than over and the bursts they come in: runs of
// slow requests due less than gap apart.
func stalls(rs []result, over, gap time.Duration) (slow, bursts int) {
	var due []time.Time
	for _, r := range rs {
		if r.outcome != 'o' && r.outcome != 'e' && r.lat > over {
			due = append(due, r.due)
		}
	}
	slices.SortFunc(due, func(a, b time.Time) int { return a.Compare(b) })
	for i, d := range due {
		if i == 0 || d.Sub(due[i-1]) >= gap {
			bursts++
		}
	}
	return len(due), bursts
}

// closedLoop keeps conns requests in flight for dur, one connection each: the peak throughput.
func (d *driver) closedLoop(ctx context.Context, u string, conns int, dur time.Duration) phase {
	var mu sync.Mutex
	var all []result
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for range conns {
		w, err := newWire(u, d.secret)
		if err != nil {
			mu.Lock()
			all = append(all, result{outcome: 'e'})
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.close()
			local := make([]result, 0, 4096)
			for time.Now().Before(end) && ctx.Err() == nil {
				local = append(local, d.do(w))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return phase{results: all, elapsed: time.Since(start)}
}

// peakRun is one closed-loop phase of the peak: its concurrency, figures and the CPU time each
// process spent in it.
type peakRun struct {
	conns int
	s     stats
	// gw is the server's CPU time (the gateway's, or the no-op server's in a no-op run);
	// redis is redis-server's (gateway runs only), self the load generator's.
	gw, redis, self time.Duration
}

func (r peakRun) label(best bool) string {
	l := fmt.Sprintf("%d in flight", r.conns)
	if best {
		l += " *"
	}
	return l
}

// bestRun is the run with the most decisions a second.
func bestRun(runs []peakRun) peakRun {
	best := runs[0]
	for _, r := range runs[1:] {
		if r.s.rps > best.s.rps {
			best = r
		}
	}
	return best
}

// parseLevels reads a comma-separated list of concurrencies, each ≥ 1.
func parseLevels(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a number of requests in flight", f)
		}
		out = append(out, n)
	}
	return out, nil
}

type stats struct {
	n, ok, allow, warn, block, errs, overruns int
	rps                                       float64
	p50, p90, p99, max                        time.Duration
}

func summarize(p phase) stats {
	s := stats{n: len(p.results)}
	lats := make([]time.Duration, 0, len(p.results))
	for _, r := range p.results {
		switch r.outcome {
		case 'a':
			s.allow++
		case 'w':
			s.warn++
		case 'b':
			s.block++
		case 'o':
			s.overruns++
			s.errs++
			continue
		default:
			s.errs++
			continue
		}
		lats = append(lats, r.lat)
	}
	s.ok = len(lats)
	s.rps = float64(s.ok) / p.elapsed.Seconds()
	if len(lats) > 0 {
		slices.Sort(lats)
		q := func(f float64) time.Duration { return lats[min(len(lats)-1, int(f*float64(len(lats))))] }
		s.p50, s.p90, s.p99, s.max = q(0.50), q(0.90), q(0.99), lats[len(lats)-1]
	}
	return s
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

// scrape sums the gateway's metric samples whose line starts with each prefix.
func scrape(ctx context.Context, client *http.Client, base string, prefixes ...string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				if i := strings.LastIndexByte(line, ' '); i > 0 {
					v, _ := strconv.ParseFloat(line[i+1:], 64)
					out[p] += v
				}
			}
		}
	}
	return out, sc.Err()
}

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct{ calls, usec float64 }

// commandStats reads INFO commandstats: calls and µs spent, by command.
func commandStats(ctx context.Context, c *redis.Client) map[string]cmdStat {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]cmdStat{}
	for _, l := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(l, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(l, "cmdstat_") {
			continue
		}
		var st cmdStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				st.calls = f
			case "usec":
				st.usec = f
			}
		}
		out[name] = st
	}
	return out
}

// costByCommand renders what Redis spent per decision on each command between two readings,
// costliest first.
func costByCommand(before, after map[string]cmdStat, decisions float64) string {
	type row struct {
		name        string
		calls, usec float64
	}
	var rows []row
	for name, a := range after {
		b := before[name]
		if calls := a.calls - b.calls; calls > 0 && !strings.Contains(name, "|") {
			rows = append(rows, row{name, calls / decisions, (a.usec - b.usec) / decisions})
		}
	}
	slices.SortFunc(rows, func(x, y row) int { return cmp.Compare(y.usec, x.usec) })
	var parts []string
	for _, r := range rows {
		if r.usec < 0.5 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %.1f × %.1f = %.0f µs", strings.ToUpper(r.name), r.calls, r.usec/r.calls, r.usec))
	}
	return strings.Join(parts, "; ")
}

func runDrive(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	gw := fs.String("gateway", "", "gateway base URL (loopback)")
	noop := fs.String("noop", "", "no-op server base URL (loopback)")
	secret := fs.String("secret", os.Getenv("DEDUPEGATE_WEBHOOK_SECRET"), "webhook secret (default $DEDUPEGATE_WEBHOOK_SECRET)")
	redisAddr := fs.String("redis", "", "the index's redis-server (for INFO command counts)")
	n := fs.Int("n", 1_000_000, "contacts indexed by load")
	seed := fs.Uint64("seed", 1, "synthetic data seed (as given to load)")
	dup := fs.Float64("dup", 0.3, "share of payloads that re-enter an indexed contact")
	rate := fs.Int("rate", 1000, "fixed rate, decisions per second")
	fixed := fs.Duration("fixed", 20*time.Second, "fixed-rate phase length")
	peak := fs.Duration("peak", 10*time.Second, "length of each peak phase")
	conns := fs.String("conns", "32,64,128", "requests in flight in the peak phases, comma-separated: one phase each, the best is the peak")
	warmup := fs.Duration("warmup", 3*time.Second, "warm-up before measuring")
	profURL := fs.String("profile-url", "", "gateway pprof base URL: take a CPU profile during the first peak phase")
	profOut := fs.String("profile-out", "cpu.pprof", "where to write that profile")
	gwPID := fs.Int("gateway-pid", 0, "the gateway's process id: report its CPU time per decision (Linux)")
	redisPID := fs.Int("redis-pid", 0, "redis-server's process id: report its CPU time per decision (Linux)")
	noopPID := fs.Int("noop-pid", 0, "the no-op server's process id: report its CPU time per request, for the ratio's budget (Linux)")
	timeline := fs.String("timeline", "", "write the gateway's fixed-rate requests to this file: due time (Unix ns), latency (ns), outcome")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, u := range []string{*gw, *noop, *profURL} {
		if u == "" {
			continue
		}
		pu, err := url.Parse(u)
		if err != nil {
			return err
		}
		if err := loopback(pu.Host); err != nil {
			return err
		}
	}
	if *gw == "" || *noop == "" || *secret == "" {
		return fmt.Errorf("--gateway, --noop and --secret are required")
	}
	levels, err := parseLevels(*conns)
	if err != nil {
		return fmt.Errorf("--conns: %w", err)
	}
	gen := synth.People{Seed: *seed}
	d := &driver{
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512,
			IdleConnTimeout: time.Minute, DisableCompression: true}},
		secret: *secret,
		tpl:    templates(gen, *n, 20_000, *dup, *seed),
	}
	var rc *redis.Client
	if *redisAddr != "" {
		if err := loopback(*redisAddr); err != nil {
			return err
		}
		rc = redis.NewClient(&redis.Options{Addr: *redisAddr, DisableIdentity: true})
		defer rc.Close()
	}
	hook := d.tpl[0]
	fmt.Fprintf(stdout, "payloads: %d RemoteExecutionContext Creates of contact (synchronous PreValidation, ~%d bytes), %.0f%% re-entries of indexed contacts, the rest new people\n",
		len(d.tpl), len(hook.body), *dup*100)
	fmt.Fprintf(stdout, "load generator: this process, %d CPUs shared with the gateway and Redis\n\n", runtime.NumCPU())

	gwHook := *gw + "/webhooks/dataverse"
	noopHook := *noop + "/webhooks/dataverse"
	d.closedLoop(ctx, gwHook, 8, *warmup)
	d.closedLoop(ctx, noopHook, 8, *warmup/2)

	metricNames := []string{`dedupegate_decisions_total{`, `dedupegate_redis_call_duration_seconds_count{caller="index"`,
		`dedupegate_redis_call_duration_seconds_count{caller="audit"`, `dedupegate_redis_pipelined_commands_total{caller="index"`,
		`dedupegate_candidates_per_decision_sum{`}
	before, err := scrape(ctx, d.client, *gw, metricNames...)
	if err != nil {
		return fmt.Errorf("scraping the gateway's metrics: %w", err)
	}
	var cmdBefore float64
	var statsBefore map[string]cmdStat
	if rc != nil {
		cmdBefore = infoField(ctx, rc, "stats", "total_commands_processed")
		statsBefore = commandStats(ctx, rc)
	}
	gwCPU0, redisCPU0, selfCPU0 := procCPU(*gwPID), procCPU(*redisPID), procCPU(os.Getpid())
	gwFixed := d.fixedRate(ctx, gwHook, *rate, *fixed)
	gwCPU1, redisCPU1, selfCPU1 := procCPU(*gwPID), procCPU(*redisPID), procCPU(os.Getpid())
	if *timeline != "" {
		var b bytes.Buffer
		for _, r := range gwFixed.results {
			fmt.Fprintf(&b, "%d %d %c\n", r.due.UnixNano(), r.lat.Nanoseconds(), r.outcome)
		}
		if err := os.WriteFile(*timeline, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("timeline: %w", err)
		}
	}
	after, err := scrape(ctx, d.client, *gw, metricNames...)
	if err != nil {
		return err
	}
	var cmdAfter float64
	var statsAfter map[string]cmdStat
	if rc != nil {
		cmdAfter = infoField(ctx, rc, "stats", "total_commands_processed")
		statsAfter = commandStats(ctx, rc)
	}

	var profErr error
	var profWG sync.WaitGroup
	if *profURL != "" {
		profWG.Add(1)
		go func() {
			defer profWG.Done()
			secs := max(1, int(peak.Seconds())-2)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", *profURL, secs), nil)
			resp, err := (&http.Client{Timeout: time.Duration(secs+30) * time.Second}).Do(req)
			if err != nil {
				profErr = err
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(*profOut)
			if err != nil {
				profErr = err
				return
			}
			_, profErr = io.Copy(f, resp.Body)
			f.Close()
		}()
		time.Sleep(200 * time.Millisecond)
	}
	// The peak: a closed loop at each concurrency, the best of them. More requests in flight
	// let concurrent lookups share Redis round trips (docs/index.md), up to the point where
	// waiting costs more than sharing saves.
	var peakStatsBefore, peakStatsAfter map[string]cmdStat
	if rc != nil {
		peakStatsBefore = commandStats(ctx, rc)
	}
	var gwPeaks []peakRun
	for i, c := range levels {
		gwCPU2, redisCPU2, selfCPU2 := procCPU(*gwPID), procCPU(*redisPID), procCPU(os.Getpid())
		ph := d.closedLoop(ctx, gwHook, c, *peak)
		gwCPU3, redisCPU3, selfCPU3 := procCPU(*gwPID), procCPU(*redisPID), procCPU(os.Getpid())
		if i == 0 {
			profWG.Wait()
		}
		gwPeaks = append(gwPeaks, peakRun{conns: c, s: summarize(ph), gw: gwCPU3 - gwCPU2, redis: redisCPU3 - redisCPU2, self: selfCPU3 - selfCPU2})
	}
	if rc != nil {
		peakStatsAfter = commandStats(ctx, rc)
	}
	noopFixed := d.fixedRate(ctx, noopHook, *rate, *fixed/2)
	var noopPeaks []peakRun
	for _, c := range levels {
		noopCPU0, selfCPU0 := procCPU(*noopPID), procCPU(os.Getpid())
		ph := d.closedLoop(ctx, noopHook, c, *peak)
		noopCPU1, selfCPU1 := procCPU(*noopPID), procCPU(os.Getpid())
		noopPeaks = append(noopPeaks, peakRun{conns: c, s: summarize(ph), gw: noopCPU1 - noopCPU0, self: selfCPU1 - selfCPU0})
	}
	gwBest, noopBest := bestRun(gwPeaks), bestRun(noopPeaks)

	type row struct {
		name, target string
		s            stats
	}
	rows := []row{{"gateway, fixed rate", fmt.Sprintf("%d/s", *rate), summarize(gwFixed)}}
	for _, r := range gwPeaks {
		rows = append(rows, row{"gateway, peak", r.label(r.conns == gwBest.conns && len(gwPeaks) > 1), r.s})
	}
	rows = append(rows, row{"no-op echo, fixed rate", fmt.Sprintf("%d/s", *rate), summarize(noopFixed)})
	for _, r := range noopPeaks {
		rows = append(rows, row{"no-op echo, peak", r.label(r.conns == noopBest.conns && len(noopPeaks) > 1), r.s})
	}
	fmt.Fprintf(stdout, "%-24s %-16s %8s %12s %8s %8s %8s %8s %7s %7s %7s %6s\n", "phase", "load", "requests", "decisions/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "block", "warn", "allow", "errors")
	for _, r := range rows {
		s := r.s
		fmt.Fprintf(stdout, "%-24s %-16s %8d %12.0f %8s %8s %8s %8s %7d %7d %7d %6d\n", r.name, r.target, s.n, s.rps, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), s.block, s.warn, s.allow, s.errs)
		if s.overruns > 0 {
			fmt.Fprintf(stdout, "%-24s %d of the errors are overruns: requests not sent because the server was over %s behind the schedule (latencies above are of the answered requests)\n", "", s.overruns, maxLate)
		}
	}
	decisions := after[metricNames[0]] - before[metricNames[0]]
	fmt.Fprintln(stdout)
	if decisions > 0 {
		rt := (after[metricNames[1]] - before[metricNames[1]]) / decisions
		audit := (after[metricNames[2]] - before[metricNames[2]]) / decisions
		piped := (after[metricNames[3]] - before[metricNames[3]]) / decisions
		fmt.Fprintf(stdout, "Redis round trips per decision (index, fixed-rate phase, %.0f decisions): %.2f  (pipelined commands per decision: %.1f)\n", decisions, rt, piped)
		fmt.Fprintf(stdout, "candidates scored per decision (block size, fixed-rate phase): %.1f\n", (after[metricNames[4]]-before[metricNames[4]])/decisions)
		fmt.Fprintf(stdout, "Redis round trips per decision for the audit trail (batched XADD, off the decision path): %.3f\n", audit)
		if rc != nil {
			fmt.Fprintf(stdout, "Redis commands processed per decision (INFO total_commands_processed, all clients): %.1f\n", (cmdAfter-cmdBefore)/decisions)
			if line := costByCommand(statsBefore, statsAfter, decisions); line != "" {
				fmt.Fprintf(stdout, "Redis time per decision by command (INFO commandstats, fixed-rate phase; calls × µs a call): %s\n", line)
			}
		}
	}
	if *gwPID > 0 && *redisPID > 0 {
		per := perRequest // the lines below are long enough
		fmt.Fprintf(stdout, "CPU time per decision, fixed rate: gateway %s µs, redis-server %s µs, load generator %s µs\n",
			per(gwCPU1-gwCPU0, len(gwFixed.results)), per(redisCPU1-redisCPU0, len(gwFixed.results)), per(selfCPU1-selfCPU0, len(gwFixed.results)))
		for _, r := range gwPeaks {
			note := ""
			if r.conns == levels[0] && *profURL != "" {
				note = " (includes the CPU profile)"
			}
			fmt.Fprintf(stdout, "CPU time per decision, peak at %d in flight: gateway %s µs, redis-server %s µs, load generator %s µs%s\n",
				r.conns, per(r.gw, r.s.n), per(r.redis, r.s.n), per(r.self, r.s.n), note)
		}
		if peakDecisions := peakRequests(gwPeaks); peakDecisions > 0 {
			if line := costByCommand(peakStatsBefore, peakStatsAfter, float64(peakDecisions)); line != "" {
				fmt.Fprintf(stdout, "Redis time per decision by command (INFO commandstats, peak phases; calls × µs a call): %s\n", line)
			}
		}
	}
	if *noopPID > 0 {
		for _, r := range noopPeaks {
			fmt.Fprintf(stdout, "CPU time per request, no-op peak at %d in flight: no-op server %s µs, load generator %s µs\n",
				r.conns, perRequest(r.gw, r.s.n), perRequest(r.self, r.s.n))
		}
	}
	gs, ns := gwBest.s, noopBest.s
	ratio := 0.0
	if ns.rps > 0 {
		ratio = gs.rps / ns.rps
	}
	fmt.Fprintf(stdout, "peak: %.0f decisions/s at %d in flight (no-op: %.0f/s at %d); throughput ratio, gateway peak / no-op peak: %.1f%%\n",
		gs.rps, gwBest.conns, ns.rps, noopBest.conns, ratio*100)
	if *gwPID > 0 && *redisPID > 0 && *noopPID > 0 && gwBest.s.n > 0 && noopBest.s.n > 0 {
		// Both peaks saturate the same two cores, so the ratio is about the inverse ratio of
		// the CPU a request costs all processes: a decision may cost 4× a no-op request.
		us := func(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }
		noop := us(noopBest.gw+noopBest.self, noopBest.s.n)
		dec := us(gwBest.gw+gwBest.redis+gwBest.self, gwBest.s.n)
		fmt.Fprintf(stdout, "ratio budget: a no-op request costs %.0f µs of CPU (server and load generator), so 25%% allows %.0f µs a decision; a decision costs %.0f µs (redis-server %.0f of them)\n",
			noop, 4*noop, dec, us(gwBest.redis, gwBest.s.n))
	}
	fmt.Fprintln(stdout)
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fs1 := rows[0].s
	if slow, bursts := stalls(gwFixed.results, 5*time.Millisecond, 20*time.Millisecond); slow > 0 {
		fmt.Fprintf(stdout, "fixed rate: %d requests over 5 ms (%.2f%%), in %d bursts (requests due less than 20 ms apart): the tail is stalls, not slow decisions\n\n",
			slow, 100*float64(slow)/float64(len(gwFixed.results)), bursts)
	}
	fmt.Fprintf(stdout, "targets: p99 ≤ 5 ms at %d/s: %s (%s ms); peak ≥ 5,000 decisions/s: %s (%.0f); ≤ 2 Redis round trips per decision: %s; ≥ 25%% of no-op: %s (%.1f%%)\n",
		*rate, check(fs1.p99 <= 5*time.Millisecond && fs1.errs == 0), ms(fs1.p99), check(gs.rps >= 5000), gs.rps,
		check(decisions > 0 && (after[metricNames[1]]-before[metricNames[1]])/decisions <= 2), check(ratio >= 0.25), ratio*100)
	if *profURL != "" {
		if profErr != nil {
			fmt.Fprintf(stdout, "CPU profile: failed: %v\n", profErr)
		} else {
			fmt.Fprintf(stdout, "CPU profile of the gateway during the peak phase at %d in flight: %s\n", levels[0], *profOut)
		}
	}
	return nil
}

// peakRequests is the number of requests the peak phases answered or failed.
func peakRequests(runs []peakRun) int {
	n := 0
	for _, r := range runs {
		n += r.s.n
	}
	return n
}

// perRequest is d per request in µs, as text ("?" when unknown).
func perRequest(d time.Duration, n int) string {
	if n == 0 || d <= 0 {
		return "?"
	}
	return strconv.FormatFloat(float64(d.Microseconds())/float64(n), 'f', 0, 64)
}

// procCPU returns the user and system CPU time process pid has used (Linux /proc; 0 when pid
// is 0 or unreadable).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count fields after its closing parenthesis.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14: utime, in clock ticks
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15: stime
	const ticks = 100                        // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}
