package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dedupegate/dedupegate/accuracy"
	"github.com/dedupegate/dedupegate/configs"
	"github.com/dedupegate/dedupegate/matcher"
	"github.com/dedupegate/dedupegate/rules"
)

// runEval replays the labelled datasets through the rules engine and prints precision, recall
// and F1 (see docs/matching.md). Exit 0: all accuracy targets met; 1: some missed; 2: usage;
// 3: could not run (datasets missing, bad rules file).
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("datasets", "../shared/datasets", "folder holding the labelled datasets (febrl/, splink_fake_1000/, chicago_childcare/, ...)")
	rulesPath := fs.String("rules", "", "rules file to measure (default: the shipped rules embedded in the binary)")
	nick := fs.String("nicknames", "", "nicknames CSV (default: <datasets>/nicknames/names.csv when present)")
	suffixes := fs.String("company-suffixes", "", "company legal forms YAML (default: <datasets>/company_suffixes/fingerprints_types.yml when present)")
	builtin := fs.Bool("builtin-lexicon", false, "use only the built-in nickname and legal-form lists")
	only := fs.String("only", "", "comma-separated datasets to run: "+strings.Join(accuracy.Datasets, ","))
	explain := fs.Int("explain", 0, "print up to N wrong pairs per dataset with their field similarities (dataset values are synthetic or public)")
	perKey := fs.Int("per-key-limit", 0, "candidates read per blocking key (default: the engine's 200)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dedupegate eval [flags]\n\nReplays the labelled datasets through the rules engine and prints precision, recall and F1.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "eval: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	var names []string
	if *only != "" {
		for _, n := range strings.Split(*only, ",") {
			n = strings.TrimSpace(n)
			if !slices.Contains(accuracy.Datasets, n) {
				fmt.Fprintf(stderr, "eval: unknown dataset %q (one of %s)\n", n, strings.Join(accuracy.Datasets, ", "))
				return exitUsage
			}
			names = append(names, n)
		}
	}
	if err := accuracy.CheckDir(*dir); err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return exitFailure
	}
	files := matcher.LexiconFiles{Nicknames: *nick, CompanySuffixes: *suffixes, NoDefaultFiles: true}
	if !*builtin {
		if files.Nicknames == "" {
			files.Nicknames = existing(*dir + "/nicknames/names.csv")
		}
		if files.CompanySuffixes == "" {
			files.CompanySuffixes = existing(*dir + "/company_suffixes/fingerprints_types.yml")
		}
	}
	lex, err := matcher.LoadLexicon(files)
	if err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return exitFailure
	}
	var set *rules.Set
	rulesName := "rules.yaml (embedded default)"
	if *rulesPath == "" {
		set, err = rules.Parse(configs.DefaultRules, rulesName, lex)
	} else {
		rulesName = *rulesPath
		set, err = rules.LoadFile(*rulesPath, lex)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "rules: %s; lexicon: %s\n\n", rulesName, strings.Join(lex.Sources(), ", "))
	results, err := accuracy.Run(ctx, accuracy.Options{
		Dir:     *dir,
		Set:     set,
		Engine:  rules.EngineConfig{PerKeyLimit: *perKey},
		Only:    names,
		Explain: *explain,
		Progress: func(name string) {
			fmt.Fprintf(stderr, "eval: %s...\n", name)
		},
	})
	if err != nil {
		fmt.Fprintln(stderr, "eval:", err)
		return exitFailure
	}
	accuracy.Print(stdout, results)
	if len(accuracy.Misses(results)) > 0 {
		return exitFound
	}
	return exitOK
}

func existing(p string) string {
	if accuracy.FileExists(p) {
		return p
	}
	return ""
}
