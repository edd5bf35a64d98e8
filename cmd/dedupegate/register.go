package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/dataverse"
	"github.com/dedupegate/dedupegate/registration"
)

// registrationFlags are the flags register, unregister and status share.
type registrationFlags struct {
	config     string
	webhookURL string
	prefix     string
	dryRun     bool
}

func parseRegistrationFlags(name string, args []string, stderr io.Writer, withURL, withDryRun bool) (*registrationFlags, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &registrationFlags{}
	fs.StringVar(&f.config, "config", os.Getenv("DEDUPEGATE_CONFIG"), "gateway config file with the dataverse and webhook sections (env DEDUPEGATE_CONFIG)")
	fs.StringVar(&f.prefix, "prefix", envOr("DEDUPEGATE_REGISTRATION_PREFIX", registration.DefaultPrefix), "name of the service endpoint and prefix of every step name (env DEDUPEGATE_REGISTRATION_PREFIX)")
	if withURL {
		fs.StringVar(&f.webhookURL, "webhook-url", os.Getenv("DEDUPEGATE_WEBHOOK_URL"), "the gateway's webhook URL as Dataverse reaches it, e.g. https://dedupe.contoso.com/webhooks/dataverse (env DEDUPEGATE_WEBHOOK_URL)")
	}
	if withDryRun {
		fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan and change nothing")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: dedupegate %s [flags]\n\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dedupegate %s: unexpected argument %q\n", name, fs.Arg(0))
		return nil, false
	}
	if f.config == "" {
		fmt.Fprintf(stderr, "dedupegate %s: --config is required (the dataverse section says where to register)\n", name)
		return nil, false
	}
	if withURL && f.webhookURL == "" {
		fmt.Fprintf(stderr, "dedupegate %s: --webhook-url is required\n", name)
		return nil, false
	}
	return f, true
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// registrationSetup loads the config, the rules and a Dataverse client.
func registrationSetup(ctx context.Context, f *registrationFlags, needRules bool) (*config.Config, *dataverse.Client, *registration.Plan, error) {
	cfg, err := config.Load(f.config)
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.Dataverse.URL == "" {
		return nil, nil, nil, errors.New("dataverse.url is not set in the config")
	}
	client, err := dataverse.New(ctx, cfg.Dataverse)
	if err != nil {
		return nil, nil, nil, err
	}
	if !needRules {
		return cfg, client, nil, nil
	}
	set, _, err := loadScanRules(cfg, "")
	if err != nil {
		return nil, nil, nil, err
	}
	plan, err := registration.Desired(set, registration.Options{Prefix: f.prefix, WebhookURL: f.webhookURL, Auth: registrationAuth(cfg)})
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, client, plan, nil
}

func registrationAuth(cfg *config.Config) registration.Auth {
	a := registration.Auth{Type: cfg.Webhook.Auth.Type, Name: cfg.Webhook.Auth.Name}
	if len(cfg.Webhook.Auth.Secrets) > 0 {
		a.Secret = cfg.Webhook.Auth.Secrets[0].Value() // the current secret
	}
	return a
}

// runRegister creates or updates the webhook endpoint and the steps the rules need.
func runRegister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, ok := parseRegistrationFlags("register", args, stderr, true, true)
	if !ok {
		return exitUsage
	}
	_, client, plan, err := registrationSetup(ctx, f, true)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate register:", err)
		return exitUsage
	}
	rep, err := registration.Register(ctx, client, plan, f.dryRun)
	if rep != nil {
		printChanges(stdout, rep, f.dryRun)
	}
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate register:", err)
		return exitFailure
	}
	return exitOK
}

// runUnregister removes the endpoint and the steps register created.
func runUnregister(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, ok := parseRegistrationFlags("unregister", args, stderr, false, true)
	if !ok {
		return exitUsage
	}
	_, client, _, err := registrationSetup(ctx, f, false)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate unregister:", err)
		return exitUsage
	}
	rep, err := registration.Unregister(ctx, client, f.prefix, f.dryRun)
	if rep != nil {
		printChanges(stdout, rep, f.dryRun)
		if len(rep.Foreign) > 0 {
			fmt.Fprintf(stdout, "kept the endpoint %q: %d step(s) not created by register use it: %s\n", f.prefix, len(rep.Foreign), strings.Join(rep.Foreign, "; "))
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate unregister:", err)
		return exitFailure
	}
	return exitOK
}

// runStatus lists what is registered and flags drift from the rules; exit 1 on drift.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, ok := parseRegistrationFlags("status", args, stderr, true, false)
	if !ok {
		return exitUsage
	}
	_, client, plan, err := registrationSetup(ctx, f, true)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate status:", err)
		return exitUsage
	}
	rep, cur, err := registration.Status(ctx, client, plan)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate status:", err)
		return exitFailure
	}
	if cur.Endpoint == nil {
		fmt.Fprintf(stdout, "endpoint %q: not registered\n", f.prefix)
	} else {
		fmt.Fprintf(stdout, "endpoint %q: %s (authtype %d, auth value set: %v)\n", cur.Endpoint.Name, cur.Endpoint.URL, cur.Endpoint.AuthType, cur.Endpoint.AuthValueSet)
	}
	fmt.Fprintf(stdout, "%d step(s) registered:\n", len(cur.Steps))
	for _, s := range cur.Steps {
		state := "enabled"
		if !s.Enabled {
			state = "DISABLED"
		}
		fmt.Fprintf(stdout, "  %s [%s of %s, stage %d, mode %d, %s]", s.Name, s.Message, s.Table, s.Stage, s.Mode, state)
		if len(s.FilteringAttributes) > 0 {
			fmt.Fprintf(stdout, " filtering: %s", strings.Join(s.FilteringAttributes, ","))
		}
		for _, im := range s.Images {
			fmt.Fprintf(stdout, " %s(%s)", im.Alias, strings.Join(im.Attributes, ","))
		}
		fmt.Fprintln(stdout)
	}
	for _, name := range rep.Foreign {
		fmt.Fprintf(stdout, "note: step %q uses the endpoint but was not created by register\n", name)
	}
	drift := rep.Drift()
	if len(drift) == 0 {
		fmt.Fprintln(stdout, "no drift: the registration matches the rules")
		return exitOK
	}
	fmt.Fprintf(stdout, "DRIFT: %d difference(s) from the rules (run 'dedupegate register' to fix):\n", len(drift))
	for _, d := range drift {
		fmt.Fprintln(stdout, "  "+d.String())
	}
	return exitFound
}

func printChanges(w io.Writer, rep *registration.Report, dryRun bool) {
	if dryRun {
		fmt.Fprintln(w, "dry run: nothing was changed. Plan:")
	}
	if len(rep.Changes) == 0 {
		fmt.Fprintln(w, "nothing to do")
	}
	for _, ch := range rep.Changes {
		fmt.Fprintln(w, "  "+ch.String())
	}
	if !dryRun {
		n := 0
		for _, ch := range rep.Changes {
			if ch.Drift {
				n++
			}
		}
		fmt.Fprintf(w, "done: %d change(s) applied\n", len(rep.Changes))
		if n == 0 {
			fmt.Fprintln(w, "the registration already matched the rules")
		}
	}
}
