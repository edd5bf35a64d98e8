package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/rules"
)

// runValidate checks a config file and a rules file and reports every problem with its
// location, without starting anything. Exit 0: valid; 1: problems found; 2: usage.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "gateway config file to check")
	rulesPath := fs.String("rules", "", "rules file to check (default: the config's rules_file, else the embedded default rules)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "validate: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	problems := 0
	report := func(err error) {
		fmt.Fprintln(stdout, err)
		var cp *config.Problems
		var rp *rules.ProblemList
		switch {
		case errors.As(err, &cp):
			problems += len(cp.List)
		case errors.As(err, &rp):
			problems += len(rp.Problems)
		default:
			problems++
		}
	}
	cfg := config.Default()
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			report(err)
		} else {
			cfg = c
			fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
		}
	}
	rp := *rulesPath
	if rp == "" {
		rp = cfg.RulesPath()
	}
	name := rp
	if name == "" {
		name = gateway.EmbeddedRulesName
	}
	if _, err := gateway.LoadRules(cfg, rp); err != nil {
		report(err)
	} else {
		fmt.Fprintf(stdout, "%s: ok\n", name)
	}
	if problems > 0 {
		fmt.Fprintf(stdout, "%d problem(s)\n", problems)
		return exitFound
	}
	return exitOK
}
