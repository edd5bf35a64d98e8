package main

import (
	"context"
	"fmt"
	"io"
)

// runReport is not built yet; its issue replaces this stub.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: report is not implemented yet")
	return exitFailure
}
