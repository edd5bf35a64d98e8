package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/synth"
)

// shippedRules is the rule set the gateway uses without a rules file (configs/rules.yaml as
// embedded), with the built-in lexicon: the keys the loader files records under must be the
// ones the gateway looks up.
func shippedRules() (*rules.Set, error) {
	lex, err := matcher.LoadLexicon(matcher.LexiconFiles{})
	if err != nil {
		return nil, err
	}
	return rules.Parse(configs.DefaultRules, "rules.yaml (embedded default)", lex)
}

func runLoad(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	addr := fs.String("redis", "", "redis-server address (loopback)")
	prefix := fs.String("prefix", "dg:", "key prefix (the gateway's index.redis.prefix)")
	n := fs.Int("n", 1_000_000, "contacts to index")
	seed := fs.Uint64("seed", 1, "synthetic data seed (run must use the same)")
	workers := fs.Int("workers", 2, "concurrent pipelines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopback(*addr); err != nil {
		return err
	}
	set, err := shippedRules()
	if err != nil {
		return err
	}
	x, err := redisindex.New(config.Redis{Addrs: []string{*addr}, Prefix: *prefix,
		ReadTimeout: config.Duration(10 * time.Second), WriteTimeout: config.Duration(10 * time.Second)},
		redisindex.WithBatchSize(1000))
	if err != nil {
		return err
	}
	defer x.Close()
	if err := x.Ready(ctx); err != nil {
		return err
	}
	rc := redis.NewClient(&redis.Options{Addr: *addr, DisableIdentity: true})
	defer rc.Close()
	before := int64(infoField(ctx, rc, "memory", "used_memory"))

	took, err := fileContacts(ctx, x, set, synth.People{Seed: *seed}, *n, *workers, stdout)
	if err != nil {
		return err
	}
	after := int64(infoField(ctx, rc, "memory", "used_memory"))
	fmt.Fprintf(stdout, "index: %d contacts loaded in %.1f s (%.0f records/s); Redis used_memory +%.0f MB (%.0f bytes/record)\n",
		*n, took.Seconds(), float64(*n)/took.Seconds(), float64(after-before)/1e6, float64(after-before)/float64(*n))
	return nil
}

// infoField reads one numeric field of a section of Redis's INFO (0 when it cannot).
func infoField(ctx context.Context, c *redis.Client, section, field string) float64 {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	return 0
}

// fileContacts files n synthetic contacts (gen.Person(0..n-1)) into w under set, workers
// batches at a time, printing progress to stdout, and returns how long it took.
func fileContacts(ctx context.Context, w index.Writer, set *rules.Set, gen synth.People, n, workers int, stdout io.Writer) (time.Duration, error) {
	const page = 2000
	pages := make(chan []matcher.Record, workers*2)
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for recs := range pages {
				if err := index.FileBatch(ctx, w, set, recs); err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}()
	}
	start := time.Now()
	last := start
	for i := 0; i < n; i += page {
		recs := make([]matcher.Record, 0, page)
		for j := i; j < min(i+page, n); j++ {
			recs = append(recs, gen.Person(j))
		}
		select {
		case pages <- recs:
		case err := <-errc:
			close(pages)
			return 0, err
		case <-ctx.Done():
			close(pages)
			return 0, ctx.Err()
		}
		if done := i + page; done%100_000 == 0 && time.Since(last) > time.Second {
			last = time.Now()
			fmt.Fprintf(stdout, "  indexed %d/%d (%.0f records/s)\n", done, n, float64(done)/time.Since(start).Seconds())
		}
	}
	close(pages)
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
	}
	return time.Since(start), nil
}
