package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/index/indexsync"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/rules"
)

// syncBulkTimeout is the Redis read/write timeout of a sync: bulk pipelines of hundreds of
// records, not a decision's round trip, so the decision-sized defaults do not apply.
const syncBulkTimeout = 30 * time.Second

// runSync loads tables from Dataverse into the Redis index: in full with --full (or for a
// table never loaded), else the rows modified since the table's watermark. Exit 0: loaded;
// 2: bad flags or configuration; 3: Dataverse or Redis failed.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "gateway config file (needs dataverse.url and index.backend: redis)")
	rulesPath := fs.String("rules", "", "rules file (default: the config's rules_file, else the embedded default rules)")
	full := fs.Bool("full", false, "reload every row and remove records Dataverse no longer has (default: rows modified since the last load)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	var tables []string
	fs.Func("table", "table to load (repeatable; default: every table the rules search)", func(v string) error {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tables = append(tables, t)
			}
		}
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dedupegate sync --config F [--table T ...] [--full] [--rules F] [--quiet]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sync: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "sync: --config is required (the gateway's config: Dataverse and Redis)")
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	switch {
	case cfg.Dataverse.URL == "":
		fmt.Fprintln(stderr, "sync: dataverse.url is not set: there is nothing to load from")
		return exitUsage
	case cfg.Index.Backend != "redis":
		fmt.Fprintf(stderr, "sync: index.backend is %q: sync loads the shared Redis index (an in-process index is loaded by serve itself)\n", cfg.Index.Backend)
		return exitUsage
	}
	log, err := gateway.NewLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	set, err := loadSyncRules(cfg, *rulesPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	known := set.CandidateTables()
	for _, t := range tables {
		if !hasTable(known, t) {
			fmt.Fprintf(stderr, "sync: no rule searches table %q (the rules search: %s)\n", t, strings.Join(known, ", "))
			return exitUsage
		}
	}
	if len(tables) == 0 {
		tables = known
	}

	dv, err := dataverse.New(ctx, cfg.Dataverse, dataverse.WithLogger(log.Named("dataverse")))
	if err != nil {
		fmt.Fprintln(stderr, "sync:", err)
		return exitUsage
	}
	rcfg := cfg.Index.Redis
	rcfg.ReadTimeout = config.Duration(max(rcfg.ReadTimeout.D(), syncBulkTimeout))
	rcfg.WriteTimeout = config.Duration(max(rcfg.WriteTimeout.D(), syncBulkTimeout))
	idx, err := redisindex.New(rcfg, redisindex.WithLogger(log.Named("index")), redisindex.WithBatchSize(1000))
	if err != nil {
		fmt.Fprintln(stderr, "sync:", err)
		return exitUsage
	}
	defer idx.Close()
	if err := idx.Ready(ctx); err != nil {
		fmt.Fprintln(stderr, "sync: redis:", err)
		return exitFailure
	}

	p := newSyncProgress(stderr, *quiet || !syncIsTTY(stderr))
	s := indexsync.New(dv, idx, func() *rules.Set { return set }, indexsync.WithLogger(log.Named("sync")), indexsync.WithProgress(p.update))
	failed := false
	for _, t := range tables {
		res, err := s.Sync(ctx, t, *full)
		p.finish()
		if err != nil {
			fmt.Fprintf(stderr, "sync: %s: %v (%d rows filed before the failure; the watermark did not move)\n", t, err, res.Rows)
			failed = true
			if ctx.Err() != nil {
				break
			}
			continue
		}
		kind := "incremental, since " + res.Since.UTC().Format(time.RFC3339)
		if res.Full {
			kind = "full"
		}
		fmt.Fprintf(stdout, "%s: %d rows loaded (%s) in %s, %.0f rows/s; %d removed; watermark %s\n",
			t, res.Rows, kind, res.Took.Round(time.Millisecond), res.Rate(), res.Removed, formatWatermark(res.Watermark))
	}
	if failed {
		return exitFailure
	}
	log.Debug("sync done", zap.Strings("tables", tables))
	return exitOK
}

func formatWatermark(t time.Time) string {
	if t.IsZero() {
		return "none (no row carried modifiedon)"
	}
	return t.UTC().Format(time.RFC3339)
}

// loadSyncRules loads the rules as serve does (gateway.LoadRules): the keys a sync files
// records under must be those serve looks up.
func loadSyncRules(cfg *config.Config, path string) (*rules.Set, error) {
	f, err := gateway.LoadRules(cfg, path)
	if err != nil {
		return nil, err
	}
	return f.Set, nil
}

func hasTable(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func syncIsTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// syncProgress draws one progress bar per table on a terminal and nothing otherwise.
type syncProgress struct {
	w     io.Writer
	quiet bool
	bar   *progressbar.ProgressBar
	table string
}

func newSyncProgress(w io.Writer, quiet bool) *syncProgress { return &syncProgress{w: w, quiet: quiet} }

func (p *syncProgress) update(pr indexsync.Progress) {
	if p.quiet {
		return
	}
	if p.bar == nil || p.table != pr.Table {
		p.finish()
		p.table = pr.Table
		desc := pr.Table + " (incremental)"
		if pr.Full {
			desc = pr.Table + " (full)"
		}
		p.bar = progressbar.NewOptions64(int64(pr.Total),
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionShowIts(),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set(pr.Done)
}

func (p *syncProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
