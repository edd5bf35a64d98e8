package main

import (
	"context"
	"fmt"
	"io"
)

// runSandbox is not built yet; its issue replaces this stub.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "dedupegate: sandbox is not implemented yet")
	return exitFailure
}
