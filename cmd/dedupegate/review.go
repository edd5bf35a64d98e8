package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dedupegate/dedupegate/actions"
	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
)

const reviewUsage = `usage:
  dedupegate review list [--config FILE] [--all] [--json]
      show open review items (tasks or rows of the review table), newest first
  dedupegate review dismiss ITEM --not-duplicate [--config FILE] [--by NAME]
      mark the pair of review item ITEM "not a duplicate": the pair joins the exceptions list
      (it never fires again) and the item is closed
  dedupegate review exceptions [--config FILE] [--json]
      list the pairs marked "not a duplicate"
`

// runReview lists and resolves duplicate review items (docs/actions.md).
func runReview(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, reviewUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("review "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reviewUsage) }
	cfgPath := fs.String("config", "", "config file (dataverse.url and actions sections)")
	asJSON := fs.Bool("json", false, "print JSON")
	all := fs.Bool("all", false, "list: closed items too")
	notDup := fs.Bool("not-duplicate", false, "dismiss: the pair is not a duplicate")
	by := fs.String("by", "", "dismiss: who decided (default: the OS user)")
	// Flags may follow the item id: parse what precedes and follows it.
	var positional []string
	for {
		if err := fs.Parse(rest); err != nil {
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch sub {
	case "list", "exceptions":
		if len(positional) > 0 {
			fmt.Fprintf(stderr, "review %s: unexpected argument %q\n", sub, positional[0])
			return exitUsage
		}
	case "dismiss":
		if len(positional) != 1 {
			fmt.Fprintln(stderr, "review dismiss: give exactly one review item id (see dedupegate review list)")
			return exitUsage
		}
		if !*notDup {
			fmt.Fprintln(stderr, "review dismiss: say what you decided: --not-duplicate (to merge real duplicates, use Dataverse's Merge)")
			return exitUsage
		}
	default:
		fmt.Fprintf(stderr, "review: unknown subcommand %q\n\n%s", sub, reviewUsage)
		return exitUsage
	}
	if *cfgPath == "" {
		*cfgPath = os.Getenv("DEDUPEGATE_CONFIG")
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "review: --config is required (or DEDUPEGATE_CONFIG): it names the Dataverse environment and the exceptions store")
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}

	var dv *dataverse.Client
	if cfg.Dataverse.URL != "" {
		if dv, err = dataverse.New(ctx, cfg.Dataverse); err != nil {
			fmt.Fprintln(stderr, "review:", err)
			return exitFailure
		}
	} else if sub != "exceptions" || actions.StoreKind(cfg) == "dataverse" {
		fmt.Fprintln(stderr, "review: the config names no Dataverse environment (dataverse.url)")
		return exitUsage
	}
	var adv actions.Dataverse
	if dv != nil {
		adv = dv
	}
	store, closeStore, err := actions.OpenExceptionStore(cfg, adv, nil, "")
	if err != nil {
		fmt.Fprintln(stderr, "review:", err)
		return exitUsage
	}
	defer closeStore() //nolint:errcheck // nothing to do about it at exit

	switch sub {
	case "list":
		return reviewList(ctx, actions.NewReviews(dv, cfg.Actions.Review), *all, *asJSON, stdout, stderr)
	case "exceptions":
		return reviewExceptions(ctx, store, *asJSON, stdout, stderr)
	}
	who := *by
	if who == "" {
		who = osUser()
	}
	exc := actions.NewExceptions(store, nil)
	it, err := actions.NewReviews(dv, cfg.Actions.Review).DismissNotDuplicate(ctx, positional[0], who, exc)
	switch {
	case errors.Is(err, actions.ErrClosed):
		fmt.Fprintf(stdout, "review item %s was already closed; the pair %s is on the exceptions list\n", it.ID, it.Pair)
		return exitOK
	case err != nil:
		fmt.Fprintln(stderr, "review dismiss:", err)
		if errors.Is(err, dataverse.ErrNotFound) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "dismissed %s: %s %s and %s %s are not duplicates; the pair will not be reported again\n",
		it.ID, it.A.Entity, it.A.ID, it.B.Entity, it.B.ID)
	if actions.StoreKind(cfg) == "file" {
		fmt.Fprintf(stdout, "(running gateways read %s within actions.exceptions.refresh, %s)\n",
			cfg.Resolve(cfg.Actions.Exceptions.File), cfg.Actions.Exceptions.Refresh.D())
	}
	return exitOK
}

func reviewList(ctx context.Context, rv *actions.Reviews, all, asJSON bool, stdout, stderr io.Writer) int {
	items, err := rv.List(ctx, all)
	if err != nil {
		fmt.Fprintln(stderr, "review list:", err)
		return exitFailure
	}
	if asJSON {
		if items == nil {
			items = []actions.ReviewItem{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(items); err != nil {
			fmt.Fprintln(stderr, "review list:", err)
			return exitFailure
		}
		return exitOK
	}
	if len(items) == 0 {
		fmt.Fprintln(stdout, "no open review items")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tCREATED\tSTATE\tRULE\tSCORE\tPAIR")
	for _, it := range items {
		state := "open"
		if !it.Open {
			state = "closed"
			if it.Verdict != "" {
				state = strings.ReplaceAll(it.Verdict, "_", " ")
			}
		}
		created := ""
		if !it.Created.IsZero() {
			created = it.Created.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%s %s ↔ %s %s\n", it.ID, created, state, it.Rule, it.Score,
			it.A.Entity, it.A.ID, it.B.Entity, it.B.ID)
	}
	if err := tw.Flush(); err != nil {
		return exitFailure
	}
	return exitOK
}

func reviewExceptions(ctx context.Context, store actions.ExceptionStore, asJSON bool, stdout, stderr io.Writer) int {
	keys, err := store.Load(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "review exceptions:", err)
		return exitFailure
	}
	if asJSON {
		if keys == nil {
			keys = []string{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(keys)
		return exitOK
	}
	if len(keys) == 0 {
		fmt.Fprintln(stdout, "no pair is marked not a duplicate")
		return exitOK
	}
	for _, k := range keys {
		fmt.Fprintln(stdout, k)
	}
	return exitOK
}

// osUser names who ran the command, for the exceptions list.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if h, err := os.Hostname(); err == nil {
		return "unknown@" + h
	}
	return "unknown"
}
