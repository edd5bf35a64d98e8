package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/index"
	"github.com/dedupegate/dedupegate/index/redisindex"
	"github.com/dedupegate/dedupegate/rules"
	"github.com/dedupegate/dedupegate/scan"
)

const scanUsage = `usage: dedupegate scan --entity TABLE [flags] FILE

Checks every row of an import file (CSV with a header row, or JSON Lines) with the gateway's
rules: against the CRM (--against an exported file, else the configured index or Dataverse) and
against the rows before it in the same file. Writes one verdict per row; --clean-out gets the
allowed rows, ready to import, and --report-out the flagged ones with their matches.
FILE may be - for standard input.

Exit status: 0 nothing would be blocked; 1 some row would be blocked; 2 usage or input error
(including malformed rows, which are reported and kept out of the clean file); 3 the scan could
not run or some row could not be checked.

flags:
`

// runScan is the import pre-check (docs/scan.md).
func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	scan.TuneRuntime() // the collector's target for a batch that keeps its indexes (GOGC overrides)
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, scanUsage)
		fs.PrintDefaults()
	}
	entity := fs.String("entity", "", "table the rows would be created in, e.g. contact (required)")
	cfgPath := fs.String("config", "", "gateway config file (index, Dataverse, matching data, rules file)")
	rulesPath := fs.String("rules", "", "rules file (default: the config's rules_file, else the embedded default rules)")
	mapFlag := fs.String("map", "", "column mapping SRC=ATTR,... (SRC may join columns: street_number+address_1=address1_line1); unmapped columns are read under their own name")
	idColumn := fs.String("id-column", "", "column identifying a row in the output (and the id column of --against); default: the row number")
	against := fs.String("against", "", "exported CRM records (same format rules, mapping and --id-column) to check against, instead of the live index")
	againstEntity := fs.String("against-entity", "", "table of the --against records (default: --entity)")
	againstID := fs.String("against-id-column", "", "id column of the --against file (default: --id-column)")
	format := fs.String("format", "", "results format: jsonl, csv or table (default: table on a terminal, else jsonl)")
	inputFormat := fs.String("input-format", "", "csv or jsonl (default: from FILE's extension: .jsonl/.ndjson/.json are JSON Lines)")
	cleanOut := fs.String("clean-out", "", "write the allowed rows here, in the input's format")
	reportOut := fs.String("report-out", "", "write the flagged rows here, with their matches")
	entry := fs.String("entry-point", rules.EntryImport, "entry point whose rule actions apply: import, form, integration or api")
	workers := fs.Int("workers", 0, "rows checked at once (default: the CPU count, 32 with a Redis index)")
	noProgress := fs.Bool("no-progress", false, "no progress bar (it only shows when stderr is a terminal and stdout is not)")
	file, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "scan:", err)
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "scan: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case *entity == "":
		return usageErr("--entity is required (the table the rows would be created in, e.g. contact)")
	case *format != "" && *format != "jsonl" && *format != "csv" && *format != "table":
		return usageErr("--format %q: want jsonl, csv or table", *format)
	case *inputFormat != "" && *inputFormat != "csv" && *inputFormat != "jsonl":
		return usageErr("--input-format %q: want csv or jsonl", *inputFormat)
	case *entry != rules.EntryImport && *entry != rules.EntryForm && *entry != rules.EntryIntegration && *entry != rules.EntryAPI:
		return usageErr("--entry-point %q: want import, form, integration or api", *entry)
	case *cleanOut != "" && *cleanOut == *reportOut:
		return usageErr("--clean-out and --report-out name the same file")
	}
	for _, out := range []string{*cleanOut, *reportOut} {
		if out != "" && file != "-" && samePath(out, file) {
			return usageErr("%s would overwrite the input file", out)
		}
	}
	mapping, err := scan.ParseMapping(*mapFlag)
	if err != nil {
		return usageErr("%v", err)
	}

	cfg, err := loadScanConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	set, exceptions, err := loadScanRules(cfg, *rulesPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if len(set.ForEntity(*entity)) == 0 {
		return usageErr("no rule checks table %q (the rules check: %s)", *entity, strings.Join(set.Tables(), ", "))
	}

	in, size, err := openInput(file)
	if err != nil {
		return usageErr("%v", err)
	}
	defer in.Close()
	inFormat := scan.InputFormat(*inputFormat)
	if inFormat == "" {
		inFormat = scan.DetectFormat(file)
	}
	stderrTTY, stdoutTTY := isTerminal(stderr), isTerminal(stdout)
	showProgress := stderrTTY && !stdoutTTY && !*noProgress

	sc := scan.Config{
		Entity:     *entity,
		Rules:      set,
		EntryPoint: *entry,
		Workers:    *workers,
		Engine:     rules.EngineConfig{PerKeyLimit: cfg.Decision.PerKeyLimit},
		Input:      scan.Input{Name: file, Format: inFormat, Mapping: mapping, IDColumn: *idColumn},
	}
	if exceptions != nil {
		sc.EngineOptions = append(sc.EngineOptions, rules.WithExceptions(exceptions))
	}
	inputProblems := false
	switch {
	case *against != "":
		ae := *againstEntity
		if ae == "" {
			ae = *entity
		}
		aid := *againstID
		if aid == "" {
			aid = *idColumn
		}
		// Filed for the rules this scan uses only (scan.RulesFor).
		mem, bad, code := loadAgainst(ctx, scan.RulesFor(set, *entity, ae), ae, *against, scan.Input{Name: *against, Format: scan.DetectFormat(*against),
			Mapping: mapping, IDColumn: aid}, showProgress, stderr)
		if code != exitOK {
			return code
		}
		inputProblems = bad
		sc.CRM = mem
	default:
		closeCRM, code := liveCRM(ctx, cfg, set, &sc, stderr)
		if code != exitOK {
			return code
		}
		defer closeCRM()
	}

	results, err := scan.NewResultWriter(resultFormat(*format, stdoutTTY), stdout)
	if err != nil {
		return usageErr("%v", err)
	}
	outs := scan.Outputs{Results: results, Notes: prefixWriter{w: stderr, prefix: "scan: note: "}}
	var files []*pendingFile
	for _, o := range []struct {
		path string
		dst  *io.Writer
	}{{*cleanOut, &outs.Clean}, {*reportOut, &outs.Report}} {
		if o.path == "" {
			continue
		}
		pf, err := createPending(o.path)
		if err != nil {
			discardAll(files)
			fmt.Fprintln(stderr, "scan:", err)
			return exitFailure
		}
		files = append(files, pf)
		*o.dst = pf.f
	}
	var bar *progressbar.ProgressBar
	if showProgress {
		bar = newBar(size, "scanning "+filepath.Base(file), stderr)
		outs.Progress = func(off int64) { _ = bar.Set64(off) }
	}
	sum, err := scan.Scan(ctx, sc, in, outs)
	if bar != nil {
		_ = bar.Finish()
		_ = bar.Clear()
	}
	if err != nil {
		discardAll(files)
		fmt.Fprintln(stderr, "scan:", err)
		var ie *scan.InputError
		if errors.As(err, &ie) {
			return exitUsage
		}
		return exitFailure
	}
	for _, pf := range files {
		if err := pf.commit(); err != nil {
			discardAll(files)
			fmt.Fprintln(stderr, "scan:", err)
			return exitFailure
		}
	}
	if resultFormat(*format, stdoutTTY) != scan.OutputTable {
		fmt.Fprintln(stderr, "scan:", sum)
	}
	fmt.Fprintln(stderr, "scan:", sum.Rate())
	switch {
	case sum.Undecided > 0:
		fmt.Fprintf(stderr, "scan: %d row(s) could not be checked (see their error); they are in the report, not the clean file\n", sum.Undecided)
		return exitFailure
	case sum.Errors > 0 || inputProblems:
		if sum.Errors > 0 {
			fmt.Fprintf(stderr, "scan: %d malformed row(s) (see their error); they are in the report, not the clean file\n", sum.Errors)
		}
		return exitUsage
	case sum.Blocked > 0:
		return exitFound
	}
	return exitOK
}

// loadScanConfig reads the gateway config for its index, Dataverse and matching settings. The
// scan serves no webhook, so a config whose webhook secret lives only in the server's
// environment is accepted: a stand-in secret satisfies validation when none is set.
func loadScanConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return config.Parse(data, path, func(k string) string {
		v := os.Getenv(k)
		if v == "" && k == "DEDUPEGATE_WEBHOOK_SECRET" {
			return "scan-serves-no-webhook"
		}
		return v
	})
}

// parseInterspersed parses flags before and after the one positional argument (FILE).
func parseInterspersed(fs *flag.FlagSet, args []string) (string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch len(pos) {
	case 0:
		return "", errors.New("no input file (FILE, or - for standard input)")
	case 1:
		return pos[0], nil
	}
	return "", fmt.Errorf("one input file expected, got %d: %s", len(pos), strings.Join(pos, " "))
}

// loadScanRules loads the rules as serve does: --rules, else the config's rules file, else the
// embedded defaults; and the file's "not a duplicate" pairs.
func loadScanRules(cfg *config.Config, path string) (*rules.Set, rules.Exceptions, error) {
	f, err := gateway.LoadRules(cfg, path)
	if err != nil {
		return nil, nil, err
	}
	var ex rules.Exceptions
	if f.NotDuplicates != nil && f.NotDuplicates.Len() > 0 {
		ex = f.NotDuplicates
	}
	return f.Set, ex, nil
}

// loadAgainst loads an export of existing records into an in-memory index.
func loadAgainst(ctx context.Context, set *rules.Set, entity, path string, in scan.Input, progress bool, stderr io.Writer) (*index.Memory, bool, int) {
	f, size, err := openInput(path)
	if err != nil {
		fmt.Fprintln(stderr, "scan: --against:", err)
		return nil, false, exitUsage
	}
	defer f.Close()
	mem := index.NewMemory()
	var onProgress func(int64)
	var bar *progressbar.ProgressBar
	if progress {
		bar = newBar(size, "loading "+filepath.Base(path), stderr)
		onProgress = func(off int64) { _ = bar.Set64(off) }
	}
	start := time.Now()
	st, err := scan.LoadAgainst(ctx, set, entity, f, in, mem, onProgress)
	if bar != nil {
		_ = bar.Finish()
		_ = bar.Clear()
	}
	if err != nil {
		fmt.Fprintln(stderr, "scan: --against:", err)
		var ie *scan.InputError
		if errors.As(err, &ie) {
			return nil, false, exitUsage
		}
		return nil, false, exitFailure
	}
	fmt.Fprintf(stderr, "scan: loaded %d %s records from %s in %.1fs (%d filed)\n", st.Rows, entity, path, time.Since(start).Seconds(), mem.Len())
	if st.DuplicateIDs > 0 {
		fmt.Fprintf(stderr, "scan: --against: %d row(s) repeat an earlier row's id; the last one is kept\n", st.DuplicateIDs)
	}
	for i, b := range st.Bad {
		if i == 20 {
			fmt.Fprintf(stderr, "scan: --against: ... and %d more malformed rows\n", len(st.Bad)-i)
			break
		}
		fmt.Fprintf(stderr, "scan: --against: %s: %s (row not loaded)\n", path, b)
	}
	return mem, len(st.Bad) > 0, exitOK
}

// liveCRM wires the configured index (Redis) and the Dataverse fallback as the CRM source.
func liveCRM(ctx context.Context, cfg *config.Config, set *rules.Set, sc *scan.Config, stderr io.Writer) (func(), int) {
	closers := []func(){}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if cfg.Index.Backend == "redis" {
		x, err := redisindex.New(cfg.Index.Redis)
		if err != nil {
			fmt.Fprintln(stderr, "scan: redis index:", err)
			return closeAll, exitFailure
		}
		closers = append(closers, func() { _ = x.Close() })
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = x.Ready(rctx)
		cancel()
		if err != nil {
			closeAll()
			fmt.Fprintln(stderr, "scan: redis index not reachable:", err)
			return func() {}, exitFailure
		}
		sc.CRM = x
		if sc.Workers == 0 {
			sc.Workers = 32 // lookups wait on round trips: keep many in flight
		}
	}
	if cfg.Dataverse.URL != "" {
		client, err := dataverse.New(ctx, cfg.Dataverse)
		if err != nil {
			closeAll()
			fmt.Fprintln(stderr, "scan: dataverse:", err)
			return func() {}, exitFailure
		}
		sc.Fallback = &dataverse.Fallback{Client: client, Rules: func() *rules.Set { return set }}
		if sc.CRM == nil {
			fmt.Fprintln(stderr, "scan: note: no Redis index configured: each row is checked with a Dataverse query (slow for big files; export the table and use --against, or sync a Redis index)")
			if sc.Workers == 0 {
				sc.Workers = 8
			}
		}
	}
	if sc.CRM == nil && sc.Fallback == nil {
		fmt.Fprintln(stderr, "scan: note: no CRM source (no --against, no Redis index, no Dataverse in the config): the file is checked against itself only")
	}
	return closeAll, exitOK
}

func resultFormat(f string, tty bool) scan.OutputFormat {
	if f != "" {
		return scan.OutputFormat(f)
	}
	if tty {
		return scan.OutputTable
	}
	return scan.OutputJSONL
}

// openInput opens a file, or standard input for "-"; size is -1 when unknown.
func openInput(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), -1, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is a directory", path)
	}
	return f, st.Size(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func samePath(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(sa, sb)
	}
	aa, _ := filepath.Abs(a)
	ab, _ := filepath.Abs(b)
	return aa == ab
}

func newBar(size int64, desc string, w io.Writer) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
}

// pendingFile is an output written to a temporary file beside its destination and renamed
// into place once the scan has succeeded: a failed scan leaves no half-written clean file.
type pendingFile struct {
	f    *os.File
	path string
}

func createPending(path string) (*pendingFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	return &pendingFile{f: f, path: path}, nil
}

func (p *pendingFile) commit() error {
	if err := p.f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(p.f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(p.f.Name(), p.path)
}

func discardAll(fs []*pendingFile) {
	for _, p := range fs {
		p.f.Close()
		os.Remove(p.f.Name())
	}
}

// prefixWriter prefixes each write (a note) with a label.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
