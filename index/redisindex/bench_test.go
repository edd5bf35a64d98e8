package redisindex_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/index/redistest"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// BenchmarkIndex1M files synthetic contacts into a private redis-server (default settings) under
// a realistic contact rule, then looks candidates up as the engine does. It prints bytes per
// record (INFO memory used_memory delta / records), the load rate, lookup latency p50/p99 and
// round trips per lookup. Run it with:
//
//	go test ./index/redisindex -run '^$' -bench BenchmarkIndex1M -benchtime 1x
//
// DEDUPEGATE_BENCH_RECORDS changes the record count (default 1,000,000);
// DEDUPEGATE_BENCH_REDIS_ARGS passes redis-server options, e.g. "--hash-max-listpack-value 256".
func BenchmarkIndex1M(b *testing.B) {
	n := benchRecords(b, 1_000_000)
	srv := redistest.Start(b, strings.Fields(os.Getenv("DEDUPEGATE_BENCH_REDIS_ARGS"))...)
	set := shippedRules(b)
	rt := &roundTrips{}
	buckets := redisindex.DefaultBuckets
	if v := os.Getenv("DEDUPEGATE_BENCH_BUCKETS"); v != "" {
		buckets, _ = strconv.Atoi(v)
	}
	x, err := redisindex.New(config.Redis{Addrs: []string{srv.Addr}, Prefix: "dg:",
		ReadTimeout: config.Duration(5 * time.Second), WriteTimeout: config.Duration(5 * time.Second)},
		redisindex.WithHook(rt), redisindex.WithBatchSize(1000), redisindex.WithBuckets(buckets))
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	ctx := b.Context()
	if err := x.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	c := redistest.Client(b, srv.Addr)
	before := usedMemory(b, c.Info(ctx, "memory").Val())

	b.ResetTimer()
	gen := newContactGen(1)
	start := time.Now()
	var writing time.Duration // time in UpsertBatch alone, without computing keys
	keys := 0
	const page = 5000
	entries := make([]index.Entry, 0, page)
	for i := 0; i < n; i++ {
		e := index.Prepare(set, gen.contact(i))
		keys += len(e.Keys)
		entries = append(entries, e)
		if len(entries) == page || i == n-1 {
			t0 := time.Now()
			if err := x.UpsertBatch(ctx, entries); err != nil {
				b.Fatal(err)
			}
			writing += time.Since(t0)
			entries = entries[:0]
		}
	}
	load := time.Since(start)
	b.StopTimer()
	after := usedMemory(b, c.Info(ctx, "memory").Val())
	perRecord := float64(after-before) / float64(n)

	// How full the key buckets are (sampled), how many are past the compact encoding, and how
	// many keys have lists: the figures behind the bucket sizing advice.
	var sampled, members, maxMembers, overflowed int64
	for bk := 0; bk < x.Buckets(); bk += max(1, x.Buckets()/4096) {
		key := fmt.Sprintf("dg:k:%d", bk)
		m := c.ZCard(ctx, key).Val()
		sampled++
		members += m
		maxMembers = max(maxMembers, m)
		if enc := c.ObjectEncoding(ctx, key).Val(); enc == "skiplist" {
			overflowed++
		}
	}
	// What a record's entry holds, from a sample of record buckets (an eighth as many as key
	// buckets): the part of the memory the entry format decides.
	var slots, sampledEntries, ids, attrs, kidBytes, rest int64
	for rb := 0; rb < x.Buckets()/8; rb += max(1, x.Buckets()/8/512) {
		for _, v := range c.HGetAll(ctx, fmt.Sprintf("dg:r:%d", rb)).Val() {
			ne, i, a, k, r, err := redisindex.SlotSizes(v)
			if err != nil {
				b.Fatal(err)
			}
			slots++
			sampledEntries += int64(ne)
			ids, attrs, kidBytes, rest = ids+int64(i), attrs+int64(a), kidBytes+int64(k), rest+int64(r)
		}
	}
	var lists, listed int64
	iter := c.Scan(ctx, 0, "dg:b:*", 10000).Iterator()
	for iter.Next(ctx) {
		lists++
		listed += c.LLen(ctx, iter.Val()).Val()
	}

	// Lookups as a pre-create check makes them: a new contact resembling an existing one
	// (same person with a new e-mail address, or without phones, or identical), every
	// blocking key of the rules, strong keys reserved.
	r := rand.New(rand.NewPCG(7, 7))
	const lookups = 20000
	var trips, found int64
	probe := func(i int) (bk, strong []string) {
		p := gen.contact(r.IntN(n))
		p.ID = ""
		switch i % 3 {
		case 0:
			p.Attrs["emailaddress1"] = "new" + strconv.Itoa(i) + "@gmail.com"
		case 1:
			delete(p.Attrs, "mobilephone")
			delete(p.Attrs, "telephone1")
		}
		for _, rl := range set.ForEntity("contact") {
			pp := rl.Matcher.Prepare(p)
			bk = append(bk, rl.Matcher.BlockingKeys(pp)...)
			strong = append(strong, rl.Matcher.StrongKeys(pp)...)
		}
		return bk, strong
	}
	// exact: the blocking keys of an existing contact's e-mail address and mobile alone.
	exact := func(i int) (bk, strong []string) {
		c := gen.contact(r.IntN(n))
		p := matcher.Record{Entity: "contact", Attrs: map[string]string{"emailaddress1": c.Attrs["emailaddress1"], "mobilephone": c.Attrs["mobilephone"]}}
		for _, rl := range set.ForEntity("contact") {
			pp := rl.Matcher.Prepare(p)
			bk = append(bk, rl.Matcher.BlockingKeys(pp)...)
			strong = append(strong, rl.Matcher.StrongKeys(pp)...)
		}
		return dedupeKeys(bk), strong
	}
	var mainTrips int64
	measure := func(name string, q func(i int) rules.Lookup) (p50, p99 time.Duration, cands float64) {
		lat := make([]time.Duration, 0, lookups)
		trips, found = 0, 0
		for i := 0; i < lookups; i++ {
			lq := q(i)
			rt.n.Store(0)
			t0 := time.Now()
			res, err := x.Lookup(ctx, lq)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			trips += rt.n.Load()
			found += int64(len(res.Records))
		}
		slices.Sort(lat)
		p50, p99 = lat[len(lat)/2], lat[len(lat)*99/100]
		fmt.Printf("lookup (%s): p50 %v, p99 %v, %.2f round trips/lookup, %.1f candidates/lookup (%d lookups)\n",
			name, p50, p99, float64(trips)/lookups, float64(found)/lookups, lookups)
		return p50, p99, float64(found) / lookups
	}
	p50, p99, _ := measure("all blocking keys, per-key limit 200, with reservations", func(i int) rules.Lookup {
		bk, strong := probe(i)
		return rules.Lookup{Keys: bk, PerKeyLimit: 200, Reserve: strong, Holder: "bench-" + strconv.Itoa(i), TTL: 3 * time.Minute}
	})
	mainTrips = trips
	measure("e-mail and mobile keys only, with reservations", func(i int) rules.Lookup {
		bk, strong := exact(i)
		return rules.Lookup{Keys: bk, PerKeyLimit: 200, Reserve: strong, Holder: "exact-" + strconv.Itoa(i), TTL: 3 * time.Minute}
	})

	b.ReportMetric(perRecord, "bytes/record")
	b.ReportMetric(float64(n)/writing.Seconds(), "records/s")
	b.ReportMetric(float64(p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
	b.ReportMetric(float64(mainTrips)/lookups, "roundtrips/lookup")
	fmt.Printf("index: %d contacts, %.2f keys/record, %d buckets\n", n, float64(keys)/float64(n), x.Buckets())
	fmt.Printf("memory: %.1f MB used_memory delta (%d bytes), %.2f bytes/record\n", float64(after-before)/1e6, after-before, perRecord)
	fmt.Printf("buckets: %.1f members on average, at most %d, %d of %d sampled past listpack; %d keys with lists holding %d records\n",
		float64(members)/float64(sampled), maxMembers, overflowed, sampled, lists, listed)
	if slots > 0 {
		per := func(v int64) float64 { return float64(v) / float64(slots) }
		fmt.Printf("record slots: %d sampled holding %d entries; a slot's value averages %.1f bytes: ids %.1f, attributes %.1f, key ids %.1f, framing %.1f\n",
			slots, sampledEntries, per(ids+attrs+kidBytes+rest), per(ids), per(attrs), per(kidBytes), per(rest))
	}
	fmt.Printf("load: %v in all, %.0f records/s; index writes alone %v, %.0f records/s (the rest computes keys)\n",
		load.Round(time.Millisecond), float64(n)/load.Seconds(), writing.Round(time.Millisecond), float64(n)/writing.Seconds())
}

func dedupeKeys(ks []string) []string {
	slices.Sort(ks)
	return slices.Compact(ks)
}

func usedMemory(tb testing.TB, info string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	tb.Fatal("no used_memory in INFO memory")
	return 0
}

// benchRecords is DEDUPEGATE_BENCH_RECORDS, or def when it is not set.
func benchRecords(b *testing.B, def int) int {
	v := os.Getenv("DEDUPEGATE_BENCH_RECORDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("DEDUPEGATE_BENCH_RECORDS=%q", v)
	}
	return n
}

// shippedRules loads the rules the gateway ships (configs/rules.yaml): about ten blocking keys
// (9.85 on average, BenchmarkIndex1M) and up to nine cached attributes per contact.
func shippedRules(tb testing.TB) *rules.Set {
	set, err := rules.LoadFile(filepath.Join("..", "..", "configs", "rules.yaml"), nil)
	if err != nil {
		tb.Fatalf("load the shipped rules: %v", err)
	}
	return set
}

// contactGen makes deterministic synthetic UK contacts with realistic fill rates.
type contactGen struct{ seed uint64 }

func newContactGen(seed uint64) *contactGen { return &contactGen{seed: seed} }

var (
	benchFirst = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
		Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret Mark Sandra
		Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Dorothy George
		Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy
		Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin
		Samantha Samuel Katherine Gregory Christine Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine
		Oliver Amelia Harry Isla Noah Ava Leo Mia Oscar Ivy Arthur Freya Zoë José Søren Łukasz Mårten Siobhán Aoife Priya Arjun`)
	benchLast = strings.Fields(`Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
		Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis
		Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell
		Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy
		Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks
		Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez
		O'Brien Müller Østergaard Kowalski Nakamura Okafor Singh Khan Chowdhury Murray Fraser Doherty McLaughlin Ahmed Ali Shah`)
	benchStreets = strings.Fields(`High Station Church Victoria Green Manor Park Queens Kings Mill Grange School London York
		Springfield Windsor Albert Chester Alexandra Highfield Mount Richmond Cedar Elm Oak Willow Beech Meadow Orchard`)
	benchKinds   = []string{"Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens"}
	benchCities  = strings.Fields(`London Manchester Birmingham Leeds Glasgow Sheffield Bradford Liverpool Edinburgh Bristol Cardiff Leicester Coventry Nottingham Belfast Brighton Hull Plymouth Reading Derby`)
	syllables    = strings.Fields(`ash bar bel bram brock cal car chad cle dal dun el fair fen gar glen hal har hol kel ken lan lin mar mel nor pen ram red ros sal stan thorn tol wal wen wick win`)
	endings      = strings.Fields(`ton ford ley by well wood field more ham den stone bourne worth mache ridge combe`)
	benchDomains = []string{"gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk", "icloud.com", "btinternet.com", "northwind-traders.co.uk", "contoso-ltd.com", "fabrikam.org"}
)

func (g *contactGen) contact(i int) matcher.Record {
	r := rand.New(rand.NewPCG(g.seed, uint64(i)))
	pct := func(p int) bool { return r.IntN(100) < p }
	first := benchFirst[r.IntN(len(benchFirst))]
	last := benchLast[r.IntN(len(benchLast))]
	if pct(60) { // the long tail of surnames: Redwick, Ashbourne, Tollemache…
		last = syllables[r.IntN(len(syllables))] + syllables[r.IntN(len(syllables))] + endings[r.IntN(len(endings))]
		last = strings.ToUpper(last[:1]) + last[1:]
	}
	if pct(10) {
		last += "-" + benchLast[r.IntN(len(benchLast))]
	}
	id := fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12), r.IntN(1<<12), r.Uint64()&(1<<48-1))
	a := map[string]string{"firstname": first, "lastname": last}
	if pct(90) {
		a["emailaddress1"] = fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, "'", "")), r.IntN(1000), benchDomains[r.IntN(len(benchDomains))])
	}
	if pct(60) {
		a["telephone1"] = fmt.Sprintf("+44 %d %04d %04d", 20+r.IntN(80), r.IntN(10000), r.IntN(10000))
	}
	if pct(70) {
		a["mobilephone"] = fmt.Sprintf("07%03d %06d", 400+r.IntN(600), r.IntN(1_000_000))
	}
	if pct(15) {
		a["governmentid"] = fmt.Sprintf("%c%c %02d %02d %02d %c", 'A'+rune(r.IntN(20)), 'A'+rune(r.IntN(20)), r.IntN(100), r.IntN(100), r.IntN(100), 'A'+rune(r.IntN(4)))
	}
	if pct(60) {
		a["birthdate"] = time.Date(1940+r.IntN(65), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	}
	if pct(70) {
		a["address1_line1"] = fmt.Sprintf("%d %s %s", 1+r.IntN(250), benchStreets[r.IntN(len(benchStreets))], benchKinds[r.IntN(len(benchKinds))])
		a["address1_postalcode"] = fmt.Sprintf("%c%c%d %d%c%c", 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)), 1+r.IntN(20), r.IntN(10), 'A'+rune(r.IntN(26)), 'A'+rune(r.IntN(26)))
		a["address1_city"] = benchCities[r.IntN(len(benchCities))]
		a["address1_country"] = "United Kingdom"
	}
	a["fullname"] = first + " " + last // not read by the rules: trimmed away by index.File
	return matcher.Record{Entity: "contact", ID: id, Attrs: a}
}
