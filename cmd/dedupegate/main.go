// Command dedupegate is the duplicate-prevention gateway for Microsoft Dataverse and its admin
// CLI: one binary, one subcommand per job.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK      = 0
	exitFound   = 1 // scan: something would be blocked; validate: problems found
	exitUsage   = 2 // bad flags, bad input
	exitFailure = 3 // could not run (I/O, Dataverse, Redis)
)

// command is one subcommand. run receives the arguments after the subcommand name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand; each lives in its own file.
var commands = map[string]command{
	"serve":      {"run the gateway (webhook, check API, metrics)", runServe},
	"sandbox":    {"run the Dataverse emulator and the gateway together, seeded and registered", runSandbox},
	"validate":   {"check a config and rules file without starting anything", runValidate},
	"register":   {"register the webhook endpoint and steps in Dataverse (idempotent)", runRegister},
	"unregister": {"remove the endpoint and steps that register created", runUnregister},
	"status":     {"list registered steps and flag drift from the rules", runStatus},
	"sync":       {"load tables from Dataverse into the index", runSync},
	"scan":       {"check an import file against the CRM and itself", runScan},
	"eval":       {"measure matching accuracy on the labelled datasets", runEval},
	"report":     {"summarise the audit trail", runReport},
	"review":     {"list and resolve duplicate review items", runReview},
	"version":    {"print the version", runVersion},
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "dedupegate: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: dedupegate <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'dedupegate <command> -h' for a command's flags.")
}

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "dedupegate", version)
	return exitOK
}
