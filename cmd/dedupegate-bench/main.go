// Command dedupegate-bench is the load benchmark's toolbox (scripts/bench.sh drives it):
//
//	dedupegate-bench load  --redis ADDR --n 1000000      index synthetic contacts in Redis
//	dedupegate-bench serve --config F --pprof ADDR       the gateway (as `dedupegate serve`), plus pprof on a side port
//	dedupegate-bench noop  --listen ADDR                 an echo server whose POST does nothing (the baseline)
//	dedupegate-bench run   --gateway URL --noop URL ...  drive both with webhook payloads and print the figures
//	dedupegate-bench port                                print a free loopback port
//
// Every address must be loopback: the benchmark never sends traffic elsewhere.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: dedupegate-bench load|serve|noop|run|port [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "load":
		err = runLoad(ctx, args[1:], stdout)
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "noop":
		err = runNoop(ctx, args[1:], stdout)
	case "run":
		err = runDrive(ctx, args[1:], stdout)
	case "port":
		err = freePort(stdout)
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "dedupegate-bench:", err)
		return 1
	}
	return 0
}

// loopback refuses any address that is not on the loopback interface.
func loopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q: %w", hostport, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the benchmark only talks to this machine", hostport)
	}
	return nil
}

// freePort prints a loopback port that is free now.
func freePort(stdout io.Writer) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
	return nil
}
