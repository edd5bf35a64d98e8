package redisindex_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/index/redistest"
)

// BenchmarkRangeReads measures what one key read costs Redis itself, on its own (no gateway,
// no load generator), from INFO commandstats: synthetic contacts filed as the load benchmark
// files them, then 200,000 pipelined reads of random key buckets each way. "lex" is
// ZRANGEBYLEX of a random key prefix, as lookups read a key (the layout's way); "lex-first" a
// range that ends at the bucket's first member (finding the key, no scan); "zcard" finds the
// bucket alone; "lex-hot" reads 1,000 buckets only (in the CPU's caches). "score" reads, with
// ZRANGE BYSCORE, copies of a quarter of the buckets that hold the key prefix as a 31-bit
// score and the 4-byte record hash as the member (a candidate layout 3), against "lex-same",
// ZRANGEBYLEX of the same buckets; the memory of both forms is printed too.
//
//	go test ./index/redisindex -run '^$' -bench BenchmarkRangeReads -benchtime 1x -timeout 30m
//
// DEDUPEGATE_BENCH_RECORDS changes the record count (default 1,000,000).
func BenchmarkRangeReads(b *testing.B) {
	n := benchRecords(b, 1_000_000)
	x, addr := synthIndex(b, shippedRules(b), n)
	ctx := b.Context()
	buckets := x.Buckets()
	c := redistest.Client(b, addr)

	// The score copies of every fourth bucket.
	for lo := 0; lo < buckets; lo += 4 * 256 {
		pipe := c.Pipeline()
		reads := map[int]*redis.StringSliceCmd{}
		for bk := lo; bk < min(lo+4*256, buckets); bk += 4 {
			reads[bk] = pipe.ZRange(ctx, fmt.Sprintf("dg:k:%d", bk), 0, -1)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		pipe = c.Pipeline()
		for bk, r := range reads {
			var zs []redis.Z
			for _, m := range r.Val() {
				if len(m) == 8 {
					zs = append(zs, redis.Z{Score: float64(binary.BigEndian.Uint32([]byte(m[:4])) & 0x7fffffff), Member: m[4:]})
				}
			}
			if len(zs) > 0 {
				pipe.ZAdd(ctx, fmt.Sprintf("dg:s:%d", bk), zs...)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	// Memory of both forms, summed over the first 256 copied buckets (SAMPLES 0: exact).
	var kMem, sMem int64
	for bk := 0; bk < 4*256 && bk < buckets; bk += 4 {
		kMem += c.MemoryUsage(ctx, fmt.Sprintf("dg:k:%d", bk), 0).Val()
		sMem += c.MemoryUsage(ctx, fmt.Sprintf("dg:s:%d", bk), 0).Val()
	}

	r := rand.New(rand.NewPCG(5, 5))
	prefix := func() (string, string, uint32) {
		var p [4]byte
		v := r.Uint32()
		binary.BigEndian.PutUint32(p[:], v)
		lo := "[" + string(p[:])
		binary.BigEndian.PutUint32(p[:], v+1)
		return lo, "(" + string(p[:]), v
	}
	type way struct {
		name, stat string
		cmd        func(p redis.Pipeliner)
	}
	ways := []way{
		{"lex", "zrangebylex", func(p redis.Pipeliner) {
			lo, hi, _ := prefix()
			p.Do(ctx, "zrangebylex", fmt.Sprintf("dg:k:%d", r.IntN(buckets)), lo, hi, "limit", 0, 200)
		}},
		{"lex-first", "zrangebylex", func(p redis.Pipeliner) {
			p.Do(ctx, "zrangebylex", fmt.Sprintf("dg:k:%d", r.IntN(buckets)), "[\x00\x00\x00\x00", "(\x00\x00\x00\x01", "limit", 0, 200)
		}},
		{"zcard", "zcard", func(p redis.Pipeliner) { p.ZCard(ctx, fmt.Sprintf("dg:k:%d", r.IntN(buckets))) }},
		{"lex-hot", "zrangebylex", func(p redis.Pipeliner) {
			lo, hi, _ := prefix()
			p.Do(ctx, "zrangebylex", fmt.Sprintf("dg:k:%d", r.IntN(1000)), lo, hi, "limit", 0, 200)
		}},
		{"lex-same", "zrangebylex", func(p redis.Pipeliner) {
			lo, hi, _ := prefix()
			p.Do(ctx, "zrangebylex", fmt.Sprintf("dg:k:%d", 4*r.IntN(buckets/4)), lo, hi, "limit", 0, 200)
		}},
		{"score", "zrange", func(p redis.Pipeliner) {
			_, _, v := prefix()
			s := strconv.FormatUint(uint64(v&0x7fffffff), 10)
			p.Do(ctx, "zrange", fmt.Sprintf("dg:s:%d", 4*r.IntN(buckets/4)), s, s, "byscore", "limit", 0, 200)
		}},
	}
	const reads, batch = 200_000, 1000
	var lines []string
	for _, w := range ways {
		if err := c.ConfigResetStat(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		for done := 0; done < reads; done += batch {
			pipe := c.Pipeline()
			for range batch {
				w.cmd(pipe)
			}
			if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
				b.Fatal(err)
			}
		}
		calls, usec := commandUsec(ctx, b, c, w.stat)
		if calls < reads {
			b.Fatalf("%s: %v calls counted", w.name, calls)
		}
		lines = append(lines, fmt.Sprintf("%s %.2f µs", w.name, usec/calls))
	}
	b.Logf("Redis time per read, %d records, %d key buckets: %s; MEMORY USAGE of 256 buckets: lexical %d bytes, score copies %d bytes",
		n, buckets, strings.Join(lines, ", "), kMem, sMem)
}

// commandUsec reads one command's calls and µs from INFO commandstats.
func commandUsec(ctx context.Context, b *testing.B, c redis.UniversalClient, name string) (calls, usec float64) {
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		rest, ok := strings.CutPrefix(l, "cmdstat_"+name+":")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "calls":
				calls = f
			case "usec":
				usec = f
			}
		}
	}
	return calls, usec
}
