package main

import (
	"context"
	"fmt"
	"io"
)

// runScan is not built yet; its issue replaces this stub.
func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: scan is not implemented yet")
	return exitFailure
}
