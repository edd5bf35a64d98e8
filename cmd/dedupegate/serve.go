package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/gateway"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: the embedded default: in-process index, no Dataverse, shipped rules)")
	listen := fs.String("listen", "", "listen address, overriding the config (loopback by default)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := loadConfig(*cfgPath, stdout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	log, err := gateway.NewLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	routeRedisLogs(log)
	gateway.TuneRuntime(cfg, log)
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate:", err)
		return exitFailure
	}
	defer g.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate:", err)
		return exitFailure
	}
	log.Info("dedupegate serving", zap.String("addr", ln.Addr().String()), zap.String("webhook", cfg.Webhook.Path),
		zap.String("index", cfg.Index.Backend), zap.Strings("tables", g.Rules.Tables()))
	if err := serveUntilDone(ctx, g, ln, cfg.ShutdownTimeout.D()); err != nil {
		log.Error("server stopped", zap.Error(err))
		return exitFailure
	}
	log.Info("dedupegate stopped")
	return exitOK
}

// serveUntilDone serves on ln until ctx is cancelled (SIGTERM, SIGINT), then stops accepting
// and lets in-flight requests finish within timeout.
func serveUntilDone(ctx context.Context, g *gateway.Gateway, ln net.Listener, timeout time.Duration) error {
	srv := &http.Server{
		Handler:           g.Echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

// loadConfig loads path, or builds the embedded default. Without a configured webhook secret
// the default generates one for this run and writes it to a file readable only by the user
// (never to the log), printing the file's path.
func loadConfig(path string, stdout io.Writer) (*config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	cfg := config.Default()
	if s := os.Getenv("DEDUPEGATE_WEBHOOK_SECRET"); s != "" {
		cfg.Webhook.Auth.Secrets = []config.Secret{config.Secret(s)}
		return cfg, nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(b)
	f := filepath.Join(os.TempDir(), fmt.Sprintf("dedupegate-webhook-secret-%d", os.Getpid()))
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg.Webhook.Auth.Secrets = []config.Secret{config.Secret(secret)}
	fmt.Fprintf(stdout, "No webhook secret configured: generated one for this run in %s\n(send it as the %s header; set DEDUPEGATE_WEBHOOK_SECRET to choose your own)\n", f, cfg.Webhook.Auth.Name)
	return cfg, nil
}
