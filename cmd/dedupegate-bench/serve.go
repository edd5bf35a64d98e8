package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dedupegate/dedupegate/config"
	"github.com/dedupegate/dedupegate/gateway"
	"github.com/dedupegate/dedupegate/synth"
)

// runServe runs the gateway exactly as `dedupegate serve` wires it (gateway.New, the same
// server timeouts), plus net/http/pprof on a separate loopback port so that the benchmark can
// take a CPU profile under load.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "gateway config file")
	pprofAddr := fs.String("pprof", "", "serve /debug/pprof/ on this loopback address")
	file := fs.Int("file", 0, "before serving, file this many synthetic contacts (as load files them in Redis) into the gateway's own index: for an in-process index (scripts/bench.sh with BENCH_INDEX=memory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if err := loopback(cfg.Listen); err != nil {
		return err
	}
	log, err := gateway.NewLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // flushes the buffered log at exit
	gateway.TuneRuntime(cfg, log)
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()
	if *file > 0 {
		took, err := fileContacts(ctx, g.Index, g.Rules, synth.People{Seed: 1}, *file, 2, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "index: %d contacts filed in the gateway's %s index in %.1f s (%.0f records/s)\n",
			*file, cfg.Index.Backend, took.Seconds(), float64(*file)/took.Seconds())
	}
	if r, ok := g.Index.(freshness); ok {
		// A replica (index.redis.replica): listen once its copy is loaded, so that the load
		// measures decisions from the copy, not the Redis reads of its start.
		start := time.Now()
		for !r.Fresh() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		fmt.Fprintf(stdout, "index: the replica loaded %d records from Redis in %.1f s\n", r.Len(), time.Since(start).Seconds())
	}
	if *pprofAddr != "" {
		if err := loopback(*pprofAddr); err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		ps := &http.Server{Addr: *pprofAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = ps.ListenAndServe() }()
		defer ps.Close()
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: g.Echo, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Fprintf(stdout, "gateway listening on %s\n", ln.Addr())
	return serveUntil(ctx, srv, ln)
}

// freshness is a replica of the Redis index (package replica).
type freshness interface {
	Fresh() bool
	Len() int
}

// runNoop serves POST /webhooks/dataverse with echo doing nothing but read the body and answer
// the same small JSON: the ceiling the gateway's throughput is compared with.
func runNoop(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("noop", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := loopback(*listen); err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/dataverse", func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"result": "allow"})
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "noop listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	return serveUntil(ctx, srv, ln)
}

func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener) error {
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
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
