package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dedupegate/dedupegate/admin"
	"github.com/dedupegate/dedupegate/audit"
	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/index/redisindex"
)

// reportMaxEntries caps the entries one report reads from a gateway's admin API.
const reportMaxEntries = 100_000

// runReport summarises the audit trail: per day, per rule, per table, per entry point, the
// users who override most, and the existing records matched most often. It reads the Redis
// stream directly (audit store redis) or a running gateway's GET /api/v1/audit (the
// in-process ring, or --url).
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "gateway config file (default: the embedded default)")
	sinceS := fs.String("since", "7d", "start of the period: a period back from --until (7d, 24h, 2w) or a time (RFC 3339, YYYY-MM-DD)")
	untilS := fs.String("until", "", "end of the period (default now): a time, or a period back from now")
	format := fs.String("format", "table", "output format: table or json")
	apiURL := fs.String("url", "", "read from a running gateway's admin API at this base URL (default for the in-process audit store: http://<listen>)")
	apiKey := fs.String("api-key", "", "API key (or Entra access token) for --url; default $DEDUPEGATE_API_KEY")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dedupegate report [--config F] [--since 7d] [--until T] [--format table|json] [--url U --api-key K]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dedupegate report: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *format != "table" && *format != "json" {
		fmt.Fprintf(stderr, "dedupegate report: --format %q is not one of table, json\n", *format)
		return exitUsage
	}
	now := time.Now().UTC()
	until := now
	if *untilS != "" {
		t, err := audit.ParseSince(*untilS, now)
		if err != nil {
			fmt.Fprintln(stderr, "dedupegate report: --until:", err)
			return exitUsage
		}
		until = t.UTC()
	}
	since, err := audit.ParseSince(*sinceS, until)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate report: --since:", err)
		return exitUsage
	}
	if !since.Before(until) {
		fmt.Fprintln(stderr, "dedupegate report: --since must be before --until")
		return exitUsage
	}
	var cfg *config.Config
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintln(stderr, err)
			return exitUsage
		}
	} else {
		cfg = config.Default()
	}
	key := *apiKey
	if key == "" {
		key = os.Getenv("DEDUPEGATE_API_KEY")
	}

	var entries []audit.Entry
	var source string
	switch {
	case *apiURL == "" && cfg.AuditStore() == "redis":
		entries, source, err = reportFromRedis(ctx, cfg, since, until)
	default:
		base := *apiURL
		if base == "" {
			base = "http://" + cfg.Listen
		}
		entries, source, err = reportFromAPI(ctx, base, key, since, until)
	}
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate report:", err)
		return exitFailure
	}
	s := audit.Summarize(entries, since, until)
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reportJSON{Source: source, Summary: s}); err != nil {
			fmt.Fprintln(stderr, "dedupegate report:", err)
			return exitFailure
		}
		return exitOK
	}
	writeReport(stdout, source, s)
	return exitOK
}

// reportJSON is the --format json document.
type reportJSON struct {
	Source string `json:"source"`
	audit.Summary
}

func reportFromRedis(ctx context.Context, cfg *config.Config, since, until time.Time) ([]audit.Entry, string, error) {
	idx, err := redisindex.New(cfg.Index.Redis)
	if err != nil {
		return nil, "", err
	}
	defer idx.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := idx.Ready(cctx); err != nil {
		return nil, "", fmt.Errorf("connecting to Redis: %w", err)
	}
	store := audit.NewRedisStore(idx.Client(), cfg.AuditStreamKey(), cfg.Audit.MaxLen)
	lctx, cancel2 := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel2()
	entries, err := store.List(lctx, since, audit.Filter{Until: until})
	if err != nil {
		return nil, "", err
	}
	return entries, "redis stream " + store.Key(), nil
}

var jwtLike = regexp.MustCompile(`^eyJ[\w-]*\.[\w-]*\.[\w-]*$`)

func reportFromAPI(ctx context.Context, base, key string, since, until time.Time) ([]audit.Entry, string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/") + "/api/v1/audit")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("--url %q is not an http(s) URL", base)
	}
	q := url.Values{}
	q.Set("since", since.Format(time.RFC3339Nano))
	q.Set("until", until.Format(time.RFC3339Nano))
	q.Set("limit", strconv.Itoa(reportMaxEntries))
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	switch {
	case key == "":
		return nil, "", errors.New("reading the gateway's audit API needs an API key: --api-key or DEDUPEGATE_API_KEY")
	case strings.HasPrefix(strings.ToLower(key), "bearer "):
		req.Header.Set("Authorization", key)
	case jwtLike.MatchString(key):
		req.Header.Set("Authorization", "Bearer "+key)
	default:
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
		return nil, "", fmt.Errorf("%s answered %d: %s", u.Host, resp.StatusCode, body.Error)
	}
	var ar admin.AuditResponse
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil {
		return nil, "", fmt.Errorf("decoding the audit API's answer: %w", err)
	}
	src := "gateway " + u.Scheme + "://" + u.Host
	if ar.Count >= reportMaxEntries {
		src += fmt.Sprintf(" (newest %d entries only)", reportMaxEntries)
	}
	return ar.Entries, src, nil
}

// writeReport renders the summary as aligned text tables.
func writeReport(w io.Writer, source string, s audit.Summary) {
	const tf = "2006-01-02 15:04 MST"
	fmt.Fprintf(w, "dedupegate audit report: %s → %s\nsource: %s\n\n", s.Since.Format(tf), s.Until.Format(tf), source)
	t := s.Totals
	fmt.Fprintf(w, "Totals: blocked %d, warned %d, overridden %d, fallbacks %d, would have fired (audit mode) %d, follow-up actions %d, other %d; entries %d\n",
		t.Block, t.Warn, t.Override, t.Fallback, t.Audit, t.Action, t.Other, t.Total)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "BLOCK\tWARN\tOVERRIDE\tFALLBACK\tAUDIT\tACTION\tOTHER\tTOTAL"
	row := func(name string, c audit.Counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", name, c.Block, c.Warn, c.Override, c.Fallback, c.Audit, c.Action, c.Other, c.Total)
	}
	section := func(title, col string, rows []audit.NamedCounts) {
		fmt.Fprintf(tw, "\n%s\n", title)
		if len(rows) == 0 {
			fmt.Fprintln(tw, "(none)")
			return
		}
		fmt.Fprintf(tw, "%s\t%s\n", col, head)
		for _, r := range rows {
			row(r.Name, r.Counts)
		}
	}
	fmt.Fprintf(tw, "\nPer day (UTC)\nDAY\t%s\n", head)
	for _, d := range s.Days {
		row(d.Day, d.Counts)
	}
	section("Per rule (the rule that fired)", "RULE", s.Rules)
	section("Per table", "TABLE", s.Tables)
	section("Per entry point", "ENTRY POINT", s.EntryPoints)
	fmt.Fprintf(tw, "\nTop overriding users\n")
	if len(s.TopOverriders) == 0 {
		fmt.Fprintln(tw, "(none)")
	} else {
		fmt.Fprintln(tw, "USER\tOVERRIDES")
		for _, u := range s.TopOverriders {
			fmt.Fprintf(tw, "%s\t%d\n", u.UserID, u.Overrides)
		}
	}
	fmt.Fprintf(tw, "\nMost-duplicated records (matched most often)\n")
	if len(s.MostDuplicated) == 0 {
		fmt.Fprintln(tw, "(none)")
	} else {
		fmt.Fprintln(tw, "TABLE\tID\tMATCHES\tRULES")
		for _, r := range s.MostDuplicated {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.Entity, r.ID, r.Matches, strings.Join(r.Rules, ", "))
		}
	}
	_ = tw.Flush()
}
